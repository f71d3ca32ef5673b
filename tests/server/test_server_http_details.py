"""Detalles de HTTP (issue 12.6), en proceso con el cliente de pruebas de Flask: cuerpos troceados
grandes, métodos inventados en /metrics, claves de API no ASCII, enteros gigantes, BOM y
sustitutos UTF-16 sueltos. Los mismos casos por el servidor real: test_server_wire.py."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.app import create_app
from server.settings import Settings
from tests.helpers.server import PROMPT

KEY = "clavé-ñ"
MAX_BODY = 8192
JSON = {"Content-Type": "application/json"}
AUTH = {"Authorization": "Bearer " + KEY.encode().decode("latin-1"), **JSON}  # como en WSGI


@pytest.fixture(scope="module")
def app(checkpoint_dir: Path) -> Flask:
    settings = Settings(
        checkpoint_dir=checkpoint_dir, api_key=KEY, max_body_bytes=MAX_BODY, reload_interval=0
    )
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def assert_error(resp, status: int, type_: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["code"] == status and err["type"] == type_, err
    assert fragment in err["message"], err["message"]


def chunked_post(client: FlaskClient, body: bytes):  # type: ignore[no-untyped-def]
    """Un cuerpo sin Content-Length, como el que gunicorn entrega de una petición chunked."""
    return client.post(
        "/generate", input_stream=io.BytesIO(body), headers=AUTH,
        environ_overrides={"wsgi.input_terminated": True},
    )  # fmt: skip


def padded(size: int) -> bytes:
    body = f'{{"prompt": "{PROMPT}", "max_new_tokens": 3, "seed": 1}}'.encode()
    return body + b" " * (size - len(body))


def test_chunked_body_over_the_limit_is_413_not_truncated(client: FlaskClient) -> None:
    resp = chunked_post(client, padded(MAX_BODY + 1))
    assert_error(resp, 413, "payload_too_large", str(MAX_BODY))


def test_chunked_body_at_the_limit_is_accepted(client: FlaskClient) -> None:
    resp = chunked_post(client, padded(MAX_BODY))
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_unknown_methods_share_one_metrics_label(client: FlaskClient) -> None:
    for i in range(50):
        client.open("/health", method=f"INVENTADO{i}").close()  # al cerrar se cuenta
        client.open(f"/no-existe-{i}", method=f"OTRO{i}").close()
    text = client.get("/metrics").get_data(as_text=True)
    assert "INVENTADO" not in text and "OTRO" not in text
    assert 'method="other"' in text


def test_non_ascii_api_key_matches_its_utf8_bytes(client: FlaskClient) -> None:
    ok = client.post("/generate", json={"prompt": PROMPT, "max_new_tokens": 2}, headers=AUTH)
    assert ok.status_code == 200, ok.get_data(as_text=True)
    wrong = {**AUTH, "Authorization": "Bearer " + "clave-n"}
    assert_error(client.post("/generate", json={}, headers=wrong), 401, "unauthorized", "clave")


@pytest.mark.parametrize(
    ("raw", "status", "type_", "fragment"),
    [
        pytest.param(b'{"seed": ' + b"9" * 5000 + b"}", 400, "invalid_json", "4300 cifras",
                     id="entero-5000-cifras"),
        pytest.param(b'{"seed": -' + b"9" * 5000 + b"}", 400, "invalid_json", "4300 cifras",
                     id="entero-negativo-5000-cifras"),
        pytest.param(b'{"\\ud800": 1}', 400, "invalid_json", "sustituto UTF-16 suelto",
                     id="clave-sustituto"),
        pytest.param(b'{"prompt": "Ho\\udc00la"}', 400, "invalid_json", "sustituto UTF-16 suelto",
                     id="valor-sustituto"),
        pytest.param(b'{"seed": 1, "a": 1' + b"}", 422, "validation_error", "campo desconocido",
                     id="extra-sigue-igual"),
    ],
)  # fmt: skip
def test_bad_json_gets_a_spanish_message(
    client: FlaskClient, raw: bytes, status: int, type_: str, fragment: str
) -> None:
    resp = client.post("/generate", data=raw, headers=AUTH)
    assert_error(resp, status, type_, fragment)
    message = resp.get_json()["error"]["message"]
    assert "None" not in message and "Exceeds" not in message and "limit" not in message


def test_a_leading_utf8_bom_is_accepted(client: FlaskClient) -> None:
    raw = b"\xef\xbb\xbf" + f'{{"prompt": "{PROMPT}", "max_new_tokens": 3, "seed": 1}}'.encode()
    resp = client.post("/generate", data=raw, headers=AUTH)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(resp.get_json()["text"]) == 3

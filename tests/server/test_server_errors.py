"""Entradas malas, límites y autenticación: siempre la misma forma de error, en español, y el
servidor sigue sirviendo la petición siguiente.

Las tablas grandes, en proceso (cliente de pruebas de Flask); unos casos de cada una, la clave
de API y la sobrecarga, por el servidor real (gunicorn)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from server.app import create_app
from server.settings import Settings
from tests.helpers.server import PROMPT, ServerProcess, assert_error

JSON = {"Content-Type": "application/json"}
OK = {"prompt": PROMPT, "max_new_tokens": 5, "seed": 1}

# (id, ruta, cuerpo crudo, cabeceras, estado, tipo, param)
RAW_CASES: list[tuple[str, str, bytes, dict[str, str], int, str, str | None]] = [
    ("json-roto", "/generate", b'{"prompt": "Hola",', JSON, 400, "invalid_json", None),
    ("json-vacio", "/generate", b"", JSON, 400, "invalid_json", None),
    ("nan", "/generate", b'{"temperature": NaN}', JSON, 400, "invalid_json", None),
    ("no-utf8", "/generate", b'{"prompt": "\xff"}', JSON, 400, "invalid_json", None),
    ("lista", "/generate", b"[1, 2]", JSON, 422, "validation_error", None),
    ("clave-sustituto", "/generate", b'{"\\ud800": 1}', JSON, 400, "invalid_json", None),
    ("texto-plano", "/generate", b"{}", {"Content-Type": "text/plain"}, 415,
     "unsupported_media_type", None),
    ("formulario", "/generate", b"prompt=Hola",
     {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", None),
    ("sin-tipo", "/v1/completions", b"{}", {}, 415, "unsupported_media_type", None),
]  # fmt: skip

# (id, ruta, cuerpo JSON, estado, tipo, param, texto que debe aparecer en el mensaje)
FIELD_CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("campo-extra", "/generate", {"prompt": "Hola", "tokens": 5}, "tokens", "campo desconocido"),
    ("prompt-numero", "/generate", {"prompt": 5}, "prompt", "texto"),
    ("temp-texto", "/generate", {"temperature": "alta"}, "temperature", "número"),
    ("temp-negativa", "/generate", {"temperature": -0.1}, "temperature", "mayor o igual que 0"),
    ("temp-enorme", "/generate", {"temperature": 1e9}, "temperature", "menor o igual"),
    ("top-p-cero", "/generate", {"top_p": 0}, "top_p", "mayor que 0"),
    ("top-p-mayor-1", "/generate", {"top_p": 1.5}, "top_p", "menor o igual que 1"),
    ("top-k-negativo", "/generate", {"top_k": -1}, "top_k", "mayor o igual que 0"),
    ("top-k-decimal", "/generate", {"top_k": 2.5}, "top_k", "entero"),
    ("top-k-bool", "/generate", {"top_k": True}, "top_k", "entero"),
    ("seed-negativa", "/generate", {"seed": -1}, "seed", "mayor o igual que 0"),
    ("seed-absurda", "/generate", {"seed": 10**30}, "seed", "menor o igual"),
    ("seed-texto", "/generate", {"seed": "42"}, "seed", "entero"),
    ("stream-texto", "/generate", {"stream": "sí"}, "stream", "true o false"),
    ("tokens-cero", "/generate", {"max_new_tokens": 0}, "max_new_tokens", "mayor o igual"),
    ("tokens-sobre-tope", "/generate", {"max_new_tokens": 301}, "max_new_tokens", "300"),
    ("top-probs-mucho", "/generate", {"top_probs": 11}, "top_probs", "menor o igual que 10"),
    ("prompt-largo", "/generate", {"prompt": "a" * 201}, "prompt", "máximo es 200"),
    ("fuera-vocab", "/generate", {"prompt": "Hola @ 😀"}, "prompt", "'@', '😀'"),
    ("oa-max-tokens", "/v1/completions", {"max_tokens": 1000}, "max_tokens", "300"),
    ("oa-n", "/v1/completions", {"n": 5}, "n", "menor o igual que 4"),
    ("oa-stop", "/v1/completions", {"stop": 5}, "stop", "texto o una lista de textos"),
    ("gen-stop", "/generate", {"stop": ["a"] * 5}, "stop", "como mucho 4 paradas"),
    ("oa-vocab", "/v1/completions", {"prompt": "€"}, "prompt", "'€'"),
]


# Las tablas van en proceso, con el cliente de pruebas de Flask sobre la misma aplicación que
# sirve gunicorn (``create_app``): es la aplicación la que valida, y así cada caso tarda
# milisegundos. Unos pocos casos representativos pasan además por el servidor real (abajo).
@pytest.fixture(scope="module")
def app(checkpoint_dir: Path) -> Flask:
    # Los mismos límites que el servidor principal de tests/server/conftest.py.
    settings = Settings(
        checkpoint_dir=checkpoint_dir, max_new_tokens=300, max_prompt_chars=200,
        max_body_bytes=4096, reload_interval=0,
    )  # fmt: skip
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c
    # Tras cada error, la aplicación atiende la siguiente petición con normalidad.
    with app.test_client() as c:
        resp = c.post("/generate", json=OK)
        assert resp.status_code == 200 and len(resp.get_json()["text"]) == 5


@pytest.mark.parametrize(
    ("path", "raw", "headers", "status", "type_", "param"),
    [pytest.param(*case[1:], id=case[0]) for case in RAW_CASES],
)
def test_malformed_bodies(
    client: FlaskClient, path: str, raw: bytes, headers: dict[str, str], status: int, type_: str,
    param: str | None,
) -> None:  # fmt: skip
    assert_error(client.post(path, data=raw, headers=headers), status, type_, param)


@pytest.mark.parametrize(
    ("path", "body", "param", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in FIELD_CASES],
)
def test_invalid_fields(
    client: FlaskClient, path: str, body: dict, param: str, fragment: str
) -> None:
    err = assert_error(client.post(path, json=body), 422, "validation_error", param)
    assert fragment in err["message"], err["message"]


def test_body_over_size_limit(client: FlaskClient) -> None:
    body = json.dumps({"prompt": "a" * 5000}).encode()  # max_body_bytes=4096
    err = assert_error(client.post("/generate", data=body, headers=JSON), 413, "payload_too_large")
    assert "4096" in err["message"]


def test_unknown_route_and_wrong_method(client: FlaskClient) -> None:
    err = assert_error(client.get("/no/existe"), 404, "not_found")
    assert "/no/existe" in err["message"]
    resp = client.get("/generate")
    err = assert_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"] and "GET" in err["message"]
    assert_error(client.delete("/health"), 405, "method_not_allowed")


# --- Unos casos por el servidor real: gunicorn entrega lo mismo ----------------

RAW_BY_ID = {case[0]: case[1:] for case in RAW_CASES}
FIELDS_BY_ID = {case[0]: case[1:] for case in FIELD_CASES}


@pytest.fixture
def still_serving(server: ServerProcess) -> Iterator[None]:
    yield
    # Tras cada error, el servidor atiende la siguiente petición con normalidad.
    assert server.get("/health").status_code == 200
    resp = server.post("/generate", OK)
    assert resp.status_code == 200 and len(resp.json()["text"]) == 5


@pytest.mark.parametrize("case", ["json-roto", "no-utf8", "texto-plano", "sin-tipo"])
def test_malformed_bodies_through_gunicorn(
    server: ServerProcess, still_serving: None, case: str
) -> None:
    path, raw, headers, status, type_, param = RAW_BY_ID[case]
    resp = requests.post(server.url(path), data=raw, headers=headers, timeout=30)
    assert_error(resp, status, type_, param)


@pytest.mark.parametrize("case", ["campo-extra", "tokens-sobre-tope", "fuera-vocab", "oa-n"])
def test_invalid_fields_through_gunicorn(
    server: ServerProcess, still_serving: None, case: str
) -> None:
    path, body, param, fragment = FIELDS_BY_ID[case]
    err = assert_error(server.post(path, body), 422, "validation_error", param)
    assert fragment in err["message"], err["message"]


def test_size_route_and_method_through_gunicorn(server: ServerProcess, still_serving: None) -> None:
    body = json.dumps({"prompt": "a" * 5000}).encode()  # MAX_BODY_BYTES=4096
    resp = requests.post(server.url("/generate"), data=body, headers=JSON, timeout=30)
    assert "4096" in assert_error(resp, 413, "payload_too_large")["message"]
    assert "/no/existe" in assert_error(server.get("/no/existe"), 404, "not_found")["message"]
    resp = server.get("/generate")
    assert_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]


# --- clave de API y sobrecarga: un servidor aparte con 1 worker y 1 plaza de generación ------

API_KEY = "clave-de-prueba"


@pytest.fixture(scope="module")
def limited(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-limitado"),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="4",
        MAX_CONCURRENT_GENERATIONS="1",
        MAX_NEW_TOKENS="1000000",
        API_KEY=API_KEY,
    ).start()
    with srv:
        srv.wait_for_log("modelo cargado")
        yield srv


AUTH = {"Authorization": f"Bearer {API_KEY}"}


def test_api_key_required_on_generation_routes(limited: ServerProcess) -> None:
    for path in ("/generate", "/v1/completions"):
        resp = limited.post(path, {"prompt": PROMPT})
        err = assert_error(resp, 401, "unauthorized")
        assert "Authorization: Bearer" in err["message"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        bad = limited.post(path, {"prompt": PROMPT}, headers={"Authorization": "Bearer otra"})
        assert "no es correcta" in assert_error(bad, 401, "unauthorized")["message"]
        basic = limited.post(path, {"prompt": PROMPT}, headers={"Authorization": "Basic eDp5"})
        assert_error(basic, 401, "unauthorized")
    assert limited.post("/generate", OK, headers=AUTH).status_code == 200
    assert limited.post("/v1/completions", {"max_tokens": 3}, headers=AUTH).status_code == 200
    # Salud y disponibilidad siguen siendo públicas.
    assert limited.get("/health").status_code == 200
    assert limited.get("/ready").status_code == 200
    assert limited.get("/info").json()["auth_required"] is True


def test_overload_answers_429_at_once(limited: ServerProcess) -> None:
    # Una generación larguísima en streaming ocupa la única plaza del worker.
    long = limited.post(
        "/generate", {"prompt": PROMPT, "max_new_tokens": 1_000_000, "stream": True},
        headers=AUTH, stream=True,
    )  # fmt: skip
    assert long.status_code == 200
    # Se guarda el iterador: si se descartara, urllib3 cerraría la conexión y con ella la
    # generación (y la plaza quedaría libre antes de tiempo).
    lines = long.iter_lines()
    first = next(lines)
    assert first.startswith(b"data:")  # la plaza está tomada: ya está generando
    try:
        # Sin cola: una petición encolada esperaría a la otra (horas) y `post` se rendiría a los
        # 60 s de su timeout. Que llegue un 429 ya prueba que no esperó, sin medir tiempos (en
        # una máquina cargada, «rápido» no es un número fijo).
        busy = limited.post("/generate", OK, headers=AUTH)
        err = assert_error(busy, 429, "overloaded")
        assert "ocupado" in err["message"] and busy.headers["Retry-After"] == "1"
        assert_error(limited.post("/v1/completions", {}, headers=AUTH), 429, "overloaded")
        assert limited.get("/health").status_code == 200  # los hilos libres siguen atendiendo
    finally:
        long.close()  # el cliente se va: el servidor corta la generación y libera la plaza
    limited.wait_until(
        lambda: limited.post("/generate", OK, headers=AUTH).status_code == 200,
        timeout=30,
        what="la plaza se libera al cerrar el cliente",
    )

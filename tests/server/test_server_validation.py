"""Una comprobación por frontera (issue 10.4): pydantic comprueba el cuerpo HTTP, con los topes
del servidor como contexto (MAX_NEW_TOKENS, MAX_PROMPT_CHARS); el vocabulario lo comprueba el
tokenizador, con su mensaje, antes de empezar a responder. En proceso, con el cliente de pruebas
de Flask; los mismos errores por gunicorn: test_server_errors.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.app import create_app
from server.settings import Settings
from tests.helpers.server import assert_error

ATTENTION_CAP = 3
PROMPT_CAP = 12
TOKENS_CAP = 12  # menos que el 16 por defecto de /v1/completions


@pytest.fixture(scope="module")
def app(checkpoint_dir: Path) -> Flask:
    settings = Settings(
        checkpoint_dir=checkpoint_dir, reload_interval=0, max_attention_chars=ATTENTION_CAP,
        max_prompt_chars=PROMPT_CAP, max_new_tokens=TOKENS_CAP,
    )  # fmt: skip
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def error(resp: Any, param: str) -> str:
    """El mensaje de un 422 en JSON (no un 200 de SSE con el error dentro)."""
    return assert_error(resp, 422, "validation_error", param)["message"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("path", "tokens"), [("/generate", "max_new_tokens"),
                                              ("/v1/completions", "max_tokens")])  # fmt: skip
def test_unknown_characters_are_a_422_before_any_stream(
    client: FlaskClient, path: str, tokens: str, stream: bool
) -> None:
    # Sin la comprobación de la ruta, el motor daría el error con el streaming ya empezado.
    body = {"prompt": "Hola €", tokens: 3, "stream": stream}
    message = error(client.post(path, json=body), "prompt")
    # El mensaje del tokenizador (el mismo que ve la CLI), con la pista de la API.
    assert "no están en el vocabulario del modelo: '€'." in message, message
    assert "GET /info" in message


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("path", "tokens"), [("/generate", "max_new_tokens"),
                                              ("/v1/completions", "max_tokens")])  # fmt: skip
def test_server_caps_are_checked_by_pydantic(
    client: FlaskClient, path: str, tokens: str, stream: bool
) -> None:
    over = error(client.post(path, json={tokens: TOKENS_CAP + 1, "stream": stream}), tokens)
    assert f"menor o igual que {TOKENS_CAP} (el tope del servidor)" in over
    long = error(client.post(path, json={"prompt": "a" * (PROMPT_CAP + 1), tokens: 3}), "prompt")
    assert long == f"el prompt tiene {PROMPT_CAP + 1} caracteres y el máximo es {PROMPT_CAP}."
    ok = client.post(path, json={"prompt": "Hola", tokens: TOKENS_CAP, "seed": 1})
    assert ok.status_code == 200, ok.get_data(as_text=True)


def test_defaults_respect_the_server_cap(client: FlaskClient) -> None:
    # /generate toma el menor de 200 y el tope; /v1/completions (16, como OpenAI) no lo rebaja
    # en silencio: es un 422 que dice el tope, como antes de que lo comprobara pydantic.
    resp = client.post("/generate", json={"prompt": "Hola", "seed": 1})
    assert resp.status_code == 200 and len(resp.get_json()["text"]) == TOKENS_CAP
    over = error(client.post("/v1/completions", json={"prompt": "Hola"}), "max_tokens")
    assert f"menor o igual que {TOKENS_CAP} (el tope del servidor)" in over


def test_attention_cap_is_a_setting(client: FlaskClient) -> None:
    message = error(client.post("/attention", json={"prompt": "Hola"}), "prompt")
    assert f"MAX_ATTENTION_CHARS={ATTENTION_CAP}" in message, message
    assert client.post("/attention", json={"prompt": "Hol"}).status_code == 200
    # El playground lo lee de /info para limitar su caja de texto.
    assert client.get("/info").get_json()["limits"]["max_attention_chars"] == ATTENTION_CAP
    doc = client.get("/openapi.json").get_json()
    assert (
        f"como mucho {ATTENTION_CAP} caracteres"
        in doc["paths"]["/attention"]["post"]["description"]
    )

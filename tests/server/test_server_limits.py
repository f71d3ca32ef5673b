"""Cargas de modelos acotadas, secretos con API_KEY y cabeceras de proxy que un cliente no puede
falsear, contra el servidor real (gunicorn en loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import jsonify, request

from server.app import create_app
from server.settings import Settings
from tests.helpers.server import PROMPT, ServerProcess, assert_error

KEY = "clave-de-prueba"
AUTH = {"Authorization": f"Bearer {KEY}"}
SLOTS = 4
# Los de models_dir (conftest.py) que no son el de por defecto (gpt-b): cargarlos es trabajo.
OTHERS = ["gpt-a", "copia-1", "copia-2", "copia-3", "bigrama"]


@pytest.fixture(scope="module")
def keyed(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Un worker con clave, 4 plazas y sitio para un solo modelo extra (cada cambio carga)."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-con-clave"),
        CHECKPOINT_DIR=str(models_dir),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="12",
        MAX_CONCURRENT_GENERATIONS=str(SLOTS),
        MAX_EXTRA_MODELS="1",
        MAX_NEW_TOKENS="1000000",
        API_KEY=KEY,
    ).start()
    with srv:
        srv.wait_for_log("modelo cargado")
        yield srv


def _loaded(srv: ServerProcess) -> set[str]:
    models = srv.get("/v1/models", headers=AUTH).json()["data"]
    return {m["id"] for m in models if m["loaded"] and not m["default"]}


def test_a_load_needs_a_generation_slot(keyed: ServerProcess) -> None:
    # Las 4 plazas, ocupadas por generaciones larguísimas en streaming.
    streams = []
    try:
        for _ in range(SLOTS):
            resp = keyed.post("/generate", {"prompt": PROMPT, "max_new_tokens": 1_000_000,
                                            "stream": True}, headers=AUTH, stream=True)  # fmt: skip
            assert resp.status_code == 200
            lines = resp.iter_lines()
            assert next(lines).startswith(b"data:")
            streams.append((resp, lines))
        target = next(m for m in OTHERS if m not in _loaded(keyed))
        busy = keyed.post("/v1/completions", {"model": target, "max_tokens": 3}, headers=AUTH)
        err = assert_error(busy, 429, "overloaded")
        assert "ocupado" in err["message"]
        # Sin plaza no hubo carga: el modelo sigue sin estar en memoria.
        assert target not in _loaded(keyed)
    finally:
        for resp, _ in streams:
            resp.close()
    keyed.wait_until(
        lambda: keyed.post("/v1/completions", {"model": "copia-3", "max_tokens": 3},
                           headers=AUTH).status_code == 200,
        timeout=60, what="la plaza vuelve a quedar libre",
    )  # fmt: skip


def test_one_load_at_a_time_and_the_others_get_429_at_once(keyed: ServerProcess) -> None:
    seen: dict[int, list[str]] = {}
    for _ in range(10):  # cada ronda pide a la vez 4 modelos que no están en memoria
        wanted = [m for m in OTHERS if m not in _loaded(keyed)][:SLOTS]
        start = threading.Barrier(len(wanted))

        def ask(model: str, start: threading.Barrier = start) -> requests.Response:
            start.wait()
            body = {"model": model, "max_tokens": 2}
            return keyed.post("/v1/completions", body, headers=AUTH)

        with ThreadPoolExecutor(len(wanted)) as pool:
            for resp in pool.map(ask, wanted):
                error = resp.json().get("error", {})
                seen.setdefault(resp.status_code, []).append(error.get("message", ""))
        if 429 in seen:
            break
    assert set(seen) <= {200, 429}, seen
    assert 200 in seen and 429 in seen, seen
    assert all("cargando otro modelo" in m for m in seen[429]), seen
    assert keyed.get("/health").status_code == 200


def test_api_key_hides_paths_files_and_model_ids(keyed: ServerProcess, models_dir: Path) -> None:
    # ("bigrama" y ".pt" salen en textos de /openapi.json que no son de este servidor.)
    secrets = [str(models_dir), "gpt-b", "gpt-a", "copia-"]
    public = {
        path: keyed.get(path).text for path in ("/info", "/openapi.json", "/docs", "/metrics")
    }
    for path, text in public.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} revela {leaked}"
    info = keyed.get("/info").json()
    assert info["redacted"] is True and info["checkpoint_dir"] is None
    assert info["model"]["name"] is None and info["model"]["file"] is None
    assert info["model"]["step"] == 10 and info["vocab"]["size"] > 0  # lo que no es secreto
    # Con la clave, todo.
    full = keyed.get("/info", headers=AUTH).json()
    assert full["redacted"] is False and full["checkpoint_dir"] == str(models_dir)
    assert full["model"]["file"] == "gpt-b.pt"
    assert "copia-1" in keyed.get("/openapi.json", headers=AUTH).text
    # /ready sigue siendo público (para los chequeos de salud).
    assert keyed.get("/ready").status_code == 200


def test_client_cannot_set_script_name_or_scheme(server: ServerProcess) -> None:
    resp = server.get("/health", headers={"SCRIPT_NAME": "/x"})
    assert resp.status_code == 200, resp.text
    moved = server.get("/x/v1/models", headers={"SCRIPT_NAME": "/x"})
    assert moved.status_code == 404  # no se sirve como /v1/models


def test_forwarded_headers_never_reach_the_app(checkpoint_dir: Path) -> None:
    # La aplicación no enseña su entorno: se le añade una ruta que lo devuelve, en una app
    # construida como la de gunicorn (create_app) y con el cliente de pruebas de Flask.
    app = create_app(Settings(checkpoint_dir=checkpoint_dir, reload_interval=0))
    app.add_url_rule("/eco", "eco", lambda: jsonify(sorted(request.environ)))
    spoofed = {
        "X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "malo",
        "Forwarded": "for=1.2.3.4", "X-Real-IP": "1.2.3.4", "X-Prueba": "sí",
    }  # fmt: skip
    keys = app.test_client().get("/eco", headers=spoofed).get_json()
    assert "HTTP_X_PRUEBA" in keys  # las demás cabeceras llegan
    assert not [k for k in keys if "FORWARDED" in k or k == "HTTP_X_REAL_IP"], keys

"""`make smoke` (docker/smoke.sh) contra el servidor nativo: dice por qué no está listo y solo
espera cuando tiene sentido. Se ejecuta el script real (bash + curl) desde un directorio sin
compose.yaml, así que no consulta contenedores: solo HTTP, como con `make serve`.

Los casos con contenedores (uno que se reinicia en bucle, el entrenador en marcha) están en
tests/docker/test_smoke_compose.py.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.server_process import free_port
from tests.helpers.cli import ROOT
from tests.helpers.server import ServerProcess, python_env

SMOKE = ROOT / "docker" / "smoke.sh"


def smoke_env(port: int, **extra: str) -> dict[str, str]:
    # SMOKE_TIMEOUT alto a propósito: si el script esperase en vez de rendirse, el timeout del
    # subprocess (muy por debajo) haría fallar la prueba.
    return python_env(HOST="127.0.0.1", PORT=str(port), SMOKE_TIMEOUT="600", **extra)


def test_nothing_listening_fails_fast_with_the_reason(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        ["bash", str(SMOKE)], cwd=tmp_path, env=smoke_env(port, SMOKE_GIVE_UP="4"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"error: nada escucha en 127.0.0.1:{port}" in proc.stderr, proc.stderr
    assert "(tras 4 s)" in proc.stderr


@pytest.fixture
def foreign_server() -> Iterator[int]:
    """Otro programa en el puerto: un servidor HTTP cualquiera (404 en /health)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_something_else_on_the_port_fails_at_once(foreign_server: int, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(SMOKE)], cwd=tmp_path, env=smoke_env(foreign_server),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "no es este servidor (GET /health → 501)" in proc.stderr, proc.stderr


def test_waits_while_there_is_no_model_and_then_generates(checkpoint: Path, tmp_path: Path) -> None:
    ckdir = tmp_path / "checkpoints"
    ckdir.mkdir()
    srv = ServerProcess(tmp_path / "srv", CHECKPOINT_DIR=str(ckdir), WEB_CONCURRENCY="1")
    with srv.start():
        port = srv.port
        out = tmp_path / "smoke.out"
        with open(out, "w") as sink:
            smoke = subprocess.Popen(
                ["bash", str(SMOKE)], cwd=tmp_path, env=smoke_env(port, SMOKE_GIVE_UP="4"),
                stdout=sink, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        try:
            waiting = "el servidor responde pero aún no tiene modelo (no hay ningún checkpoint"
            deadline = time.monotonic() + 120
            while waiting not in out.read_text() and time.monotonic() < deadline:
                assert smoke.poll() is None, out.read_text()  # sigue esperando, no se rinde
                time.sleep(0.5)
            assert waiting in out.read_text()
            # Más que SMOKE_GIVE_UP: sin modelo pero respondiendo, no se rinde.
            time.sleep(6)
            assert smoke.poll() is None, out.read_text()
            shutil.copy2(checkpoint, ckdir / "tiny.pt")  # llega el checkpoint
            assert smoke.wait(timeout=180) == 0, out.read_text()
        finally:
            if smoke.poll() is None:
                smoke.kill()
                smoke.wait()
    assert "POST /generate → 200" in out.read_text()

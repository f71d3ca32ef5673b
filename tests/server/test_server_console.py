"""Lo que una persona ve del servidor además de la API: la dirección del playground al
arrancar, un favicon en vez de un 404 y de qué carpeta sirve (un modelo por carpeta)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import Settings
from shared.common.errors import ConfigError
from tests.helpers.server import ServerProcess, python_env


def test_favicon_exists(server: ServerProcess) -> None:
    resp = server.get("/favicon.ico")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("image/svg+xml")
    assert resp.text.lstrip().startswith("<svg")
    assert 'rel="icon"' in server.get("/").text


def test_info_says_which_folder_it_serves(server: ServerProcess, checkpoint: Path) -> None:
    assert server.get("/info").json()["checkpoint_dir"] == str(checkpoint.parent)


def test_model_picks_the_folder_like_make_train_does() -> None:
    assert Settings.from_env({}).checkpoint_dir == Path("checkpoints/gpt")
    assert Settings.from_env({"MODEL": "bigram"}).checkpoint_dir == Path("checkpoints/bigram")
    explicit = {"MODEL": "bigram", "CHECKPOINT_DIR": "otra"}
    assert Settings.from_env(explicit).checkpoint_dir == Path("otra")
    assert Settings.from_env({"MODEL": "", "CHECKPOINT_DIR": ""}).checkpoint_dir == Path(
        "checkpoints/gpt"
    )
    with pytest.raises(ConfigError, match="MODEL debe ser uno de"):
        Settings.from_env({"MODEL": "rnn"})


def test_python_m_server_prints_the_playground_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = python_env(CHECKPOINT_DIR=str(tmp_path), PORT=str(port), WEB_CONCURRENCY="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert first.startswith(f"Playground: http://127.0.0.1:{port}/"), first
    assert str(tmp_path) in first


# Los mensajes de siempre de gunicorn, en inglés; ninguno debe llegar a la consola.
GUNICORN_ENGLISH = (
    "Starting gunicorn",
    "Listening at",
    "Using worker",
    "Booting worker",
    "Handling signal",
    "Worker exiting",
    "Shutting down",
    "was sent SIGTERM",
)


def test_serve_log_reads_in_spanish_from_start_to_stop(tmp_path: Path, checkpoint: Path) -> None:
    """``python -m server`` (lo que lanza ``make serve``) con un modelo, parado con SIGTERM."""
    with ServerProcess(
        tmp_path / "srv", CHECKPOINT_DIR=str(checkpoint.parent), WEB_CONCURRENCY="2"
    ).start() as srv:
        srv.wait_ready()
    log = srv.log()
    assert srv.proc is not None and srv.proc.returncode == 0, log
    for spanish in ("arranca gunicorn", "escuchando en http://127.0.0.1:", "arranca un worker",
                    "señal recibida: term", "se apaga el proceso maestro"):  # fmt: skip
        assert spanish in log, log
    english = [line for line in log.splitlines() if any(e in line for e in GUNICORN_ENGLISH)]
    assert not english, english

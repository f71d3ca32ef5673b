"""bench/server_process.py: el único lanzador del servidor, el de las pruebas y el del benchmark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.server_process import SERVER_VARS, ServerProcess, ServerStartError
from server.settings import Settings


class ReadRecorder(dict):
    """Un entorno vacío que apunta qué variables se le piden."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:
        self.read.add(key)
        return default

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return False

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("Settings.from_env no debería recorrer todo el entorno")


def test_the_variable_list_covers_every_setting_the_server_reads() -> None:
    env = ReadRecorder()
    Settings.from_env(env)
    assert "BATCHING" in env.read  # la prueba ve de verdad lo que lee from_env
    missing = env.read - set(SERVER_VARS)
    assert not missing, f"faltan en bench/server_process.py SERVER_VARS: {sorted(missing)}"


@pytest.fixture
def no_model_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    # Variables del servidor en el entorno de quien lanza: no deben llegar al servidor.
    monkeypatch.setenv("BATCHING", "0")
    monkeypatch.setenv("API_KEY", "heredada")
    srv = ServerProcess(tmp_path / "srv", CHECKPOINT_DIR=str(tmp_path), WEB_CONCURRENCY="1")
    with srv.start():
        yield srv


def test_starts_waits_for_health_and_drops_inherited_settings(
    no_model_server: ServerProcess,
) -> None:
    srv = no_model_server
    assert srv.base_url.startswith("http://127.0.0.1:")
    # Lo que dice el maestro al arrancar: los ajustes son los pasados, no los heredados.
    assert "generación por lotes: sí" in srv.log()
    assert "espera pasiva" not in srv.log()  # un hilo de torch por worker: nadie espera
    # Sin checkpoint, /ready no llega a 200: wait_ready avisa con el registro del servidor.
    with pytest.raises(ServerStartError, match="/ready"):
        srv.wait_ready(timeout=1.5)
    srv.stop()
    assert srv.proc is not None and srv.proc.returncode == 0  # parada ordenada (SIGTERM)


def test_several_torch_threads_per_worker_wait_passively(tmp_path: Path) -> None:
    srv = ServerProcess(
        tmp_path / "srv", CHECKPOINT_DIR=str(tmp_path), WEB_CONCURRENCY="1", TORCH_THREADS="2"
    )
    with srv.start():
        assert "espera pasiva (OMP_WAIT_POLICY=PASSIVE)" in srv.log()

"""Clientes lentos u ociosos no tumban el servidor (``python -m server`` de verdad, sockets reales).

Antes del frente (server/front.py), con los valores por defecto (2 workers × 4 hilos gthread),
8 conexiones que enviaban un byte cada pocos segundos dejaban sin respuesta a /health y
/generate (0 de 40 sondas) durante todo el tiempo que duraban; 200 conexiones mudas, igual.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import ServerProcess
from tests.helpers.slow_clients import PROBES, measure

CLIENT_TIMEOUT = 4.0
MARGIN = 3.0  # holgura para una máquina compartida y cargada


@pytest.fixture(scope="module")
def default_server(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Como lo arranca un usuario: 2 workers × 4 hilos (los valores por defecto)."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-lentos"),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="2",
        TORCH_THREADS="1",
        CLIENT_TIMEOUT=str(CLIENT_TIMEOUT),
    )
    with srv.start():
        srv.wait_for_log(r"modelo cargado", count=2)
        yield srv


@pytest.mark.parametrize("kind", ["slow", "idle"])
@pytest.mark.parametrize("n", [8, 20, 200])
def test_slow_and_idle_connections_do_not_starve_the_server(
    default_server: ServerProcess, n: int, kind: str
) -> None:
    port = int(default_server.base_url.rsplit(":", 1)[1])
    out = measure("127.0.0.1", port, n, kind, close_limit=CLIENT_TIMEOUT + 2 * MARGIN)
    print(f"\n{out.summary(n, kind)}")
    assert out.answered >= PROBES - 1, out.failures
    # Todas se cierran, y no antes de su plazo: estaban abiertas mientras se sondeaba.
    assert len(out.closed_after) == n
    assert min(out.closed_after) >= CLIENT_TIMEOUT - 0.5, out.closed_after
    assert max(out.closed_after) <= CLIENT_TIMEOUT + MARGIN, out.closed_after


def test_past_the_connection_cap_the_oldest_waiting_connection_makes_room(
    checkpoint_dir: Path, tmp_path: Path
) -> None:
    # Con 300 descriptores de fichero caben 118 conexiones (dos descriptores cada una): 200
    # conexiones mudas no dejan fuera a las sondas, porque sale la que más lleva esperando.
    ulimit = ("bash", "-c", 'ulimit -Sn 300 && ulimit -Hn 300 && exec "$@"', "bash")
    srv = ServerProcess(tmp_path, wrapper=ulimit, CHECKPOINT_DIR=str(checkpoint_dir),
                        WEB_CONCURRENCY="1", CLIENT_TIMEOUT=str(CLIENT_TIMEOUT))  # fmt: skip
    with srv.start():
        srv.wait_for_log(r"modelo cargado")
        assert "hasta 118 conexiones a la vez" in srv.log()
        port = int(srv.base_url.rsplit(":", 1)[1])
        out = measure("127.0.0.1", port, 200, "idle", close_limit=CLIENT_TIMEOUT + 2 * MARGIN)
    print(f"\ncon tope de 118: {out.summary(200, 'idle')}")
    assert out.answered >= PROBES - 1, out.failures
    assert len(out.closed_after) == 200 and min(out.closed_after) < CLIENT_TIMEOUT - 1

"""Clientes lentos u ociosos contra `docker compose up` con el puerto publicado (como lo usa la
gente), con una réplica del servidor y con tres: nginx los corta a los CLIENT_TIMEOUT s y el
servidor sigue atendiendo. Además, `docker stop` sigue siendo una parada ordenada.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.helpers.dockerlib import TINY_TRAINING, Project, generate_until_ok
from tests.helpers.slow_clients import PROBES, measure

pytestmark = pytest.mark.docker

CLIENT_TIMEOUT = 8.0
MARGIN = 4.0  # el reenvío de puertos del motor añade su parte


@pytest.fixture(scope="module", params=[1, 3], ids=["1-replica", "3-replicas"])
def stack(request: pytest.FixtureRequest) -> Iterator[Project]:
    """compose entero con un entrenamiento corto; el servidor con los valores por defecto
    (2 workers × 4 hilos) salvo un CLIENT_TIMEOUT corto para que la prueba dure poco."""
    settings = {**TINY_TRAINING, "WEB_CONCURRENCY": "2", "CLIENT_TIMEOUT": str(CLIENT_TIMEOUT)}
    project = Project(settings=settings)
    try:
        project.compose("build", timeout=1800)
        project.compose("up", "-d", "--no-build", "--scale", f"server={request.param}")
        generate_until_ok(project.url, seconds=300)
        yield project
    finally:
        project.down()


@pytest.mark.parametrize("kind", ["slow", "idle"])
@pytest.mark.parametrize("n", [8, 20, 200])
def test_slow_and_idle_connections_do_not_starve_compose(stack: Project, n: int, kind: str) -> None:
    out = measure("127.0.0.1", stack.port, n, kind, close_limit=CLIENT_TIMEOUT + 2 * MARGIN)
    print(f"\ncompose: {out.summary(n, kind)}")
    assert out.answered >= PROBES - 1, out.failures
    assert len(out.closed_after) == n
    assert min(out.closed_after) >= CLIENT_TIMEOUT - 0.5, out.closed_after
    assert max(out.closed_after) <= CLIENT_TIMEOUT + MARGIN, out.closed_after


def test_docker_stop_is_graceful(stack: Project) -> None:
    stack.compose("stop", "--timeout", "40", "server", timeout=120)
    ps = stack.compose("ps", "-a", "--format", "json", "server").stdout
    rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
    logs = stack.compose("logs", "--no-color", "server").stdout
    assert rows and all(row["ExitCode"] == 0 for row in rows), logs
    # gunicorn es el PID 1 del contenedor: recibe SIGTERM él mismo y termina en orden.
    assert "señal recibida: term" in logs and "se apaga el proceso maestro" in logs, logs[-3000:]

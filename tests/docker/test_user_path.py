"""Lo que hace un usuario nuevo: `docker compose up` sin .env y curl a /generate.

Nada de ajustes de prueba: sin WEB_CONCURRENCY, TORCH_THREADS ni HOST; solo el nombre del
proyecto y el puerto (para no chocar con lo de la máquina) y un entrenamiento corto con el
modelo por defecto (MAX_STEPS y cada cuánto se evalúa, que es cuando se guarda). Con una
variable vacía mal tratada, el servidor se reinicia en bucle y esta prueba lo ve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from test_smoke_compose import make_smoke

from bench.class_load import run_class
from tests.helpers.dockerlib import Project, docker, generate_until_ok, http, poll

pytestmark = pytest.mark.docker

# Un entrenamiento corto como el que un profesor pone en .env para la primera clase: el modelo y
# los datos de `make train`, pocos pasos y un checkpoint en cuanto termina la primera evaluación.
SHORT_TRAINING = {"MAX_STEPS": "40", "TRAIN_ARGS": "--eval-interval 20 --eval-iters 2"}


@pytest.fixture(scope="module")
def user_stack() -> Iterator[tuple[Project, float]]:
    project = Project(settings=SHORT_TRAINING)
    try:
        started = project.up()
        yield project, started
    finally:
        project.down()


def restarts(project: Project) -> int:
    container = project.compose("ps", "-a", "-q", "server").stdout.strip()
    return int(docker("inspect", "--format", "{{.RestartCount}}", container).stdout.strip())


def test_make_smoke_waits_for_the_first_checkpoint(user_stack: tuple[Project, float]) -> None:
    # Lo primero que hace el usuario tras `make up` (README): `make smoke`, que espera al
    # primer checkpoint diciendo por qué espera, y pide un texto.
    project, started = user_stack
    proc = make_smoke(project, timeout=900)
    print(proc.stdout[-3000:], proc.stderr[-2000:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "POST /generate → 200" in proc.stdout
    print(f"make smoke: texto {time.monotonic() - started:.0f} s después de `docker compose up -d`")
    # Lo que dijo mientras esperaba: solo motivos conocidos, nunca «se está reiniciando».
    assert "se está reiniciando" not in proc.stdout


def test_compose_up_with_user_defaults_serves_text(user_stack: tuple[Project, float]) -> None:
    project, _ = user_stack
    last: list[tuple[int, object]] = []

    def text_or_crash() -> bool:
        # Un reinicio del servidor es un fallo en el acto: no hace falta esperar al plazo.
        if restarts(project):
            logs = project.compose("logs", "--no-color", "server").stdout
            raise AssertionError(f"el servidor se reinicia:\n{logs[-3000:]}")
        code, body = http("POST", f"{project.url}/generate", {"prompt": "Hola"})
        last[:] = [(code, body)]
        return code == 200 and isinstance(body, dict) and bool(str(body.get("text")).strip())

    assert poll(text_or_crash, 600, interval=2), f"sin texto de /generate; último: {last}"
    assert last[0][1]["model"]["type"] == "gpt"  # type: ignore[index]


def test_server_container_uses_the_default_settings(user_stack: tuple[Project, float]) -> None:
    project, _ = user_stack
    assert poll(lambda: http("GET", f"{project.url}/health")[0] == 200, 300), "sin /health"
    env = json.loads(
        docker(
            "inspect", "--format", "{{json .Config.Env}}",
            project.compose("ps", "-q", "server").stdout.strip(),
        ).stdout
    )  # fmt: skip
    # compose pasa las variables que .env no define, pero vacías: vacía = por defecto.
    assert "WEB_CONCURRENCY=" in env and "TORCH_THREADS=" in env, env
    logs = project.compose("logs", "--no-color", "server").stdout
    # Los de la tabla de docs/servidor.md: 64 plazas de generación + 8 hilos libres.
    assert "worker(s) × 72 hilo(s), 1 hilo(s) de torch por worker" in logs, logs[-2000:]
    assert restarts(project) == 0, logs[-3000:]


def test_a_class_of_30_streams_at_once_through_nginx(user_stack: tuple[Project, float]) -> None:
    # Un profesor proyecta el playground y 30 estudiantes pulsan «Generar» a la vez: con los
    # valores por defecto de `docker compose up`, todos reciben sus 300 caracteres en streaming
    # a través de nginx (antes: 4 × 200 y 26 × 429). Los tiempos, en `make bench-class`.
    project, _ = user_stack
    generate_until_ok(project.url, seconds=600)
    row = run_class(project.url, 30, 300)
    print(row)
    assert row["errors"] == 0, row

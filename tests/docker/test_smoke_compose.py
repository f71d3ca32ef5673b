"""`make smoke` con contenedores de verdad: dice por qué el servidor no está listo y se rinde
pronto cuando esperar no sirve (el servidor se reinicia en bucle, el entrenador falló).

Se ejecuta `make smoke` desde la raíz del repositorio, como un usuario; COMPOSE_PROJECT_NAME le
dice a `docker compose ps` cuál es el proyecto de la prueba (el de un usuario es el de
compose.yaml). SMOKE_TIMEOUT se deja en sus 600 s: si el script esperase en vez de rendirse,
el timeout del subprocess (muy por debajo) haría fallar la prueba.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.helpers.dockerlib import ROOT, Project, clean_env, poll

pytestmark = pytest.mark.docker


def make_smoke(project: Project, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "PORT": str(project.port), "COMPOSE_PROJECT_NAME": project.name}
    return subprocess.run(
        ["make", "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def crash_looping() -> Iterator[Project]:
    # Un valor inválido hace que el servidor salga al arrancar con un error de configuración;
    # con `restart: unless-stopped`, el contenedor se reinicia en bucle.
    project = Project(settings={"WEB_CONCURRENCY": "dos"})
    try:
        project.up("server", "proxy")  # nginx publica el puerto
        yield project
    finally:
        project.down()


def test_smoke_says_the_server_container_is_restarting(crash_looping: Project) -> None:
    proc = make_smoke(crash_looping)
    assert proc.returncode != 0, proc.stdout
    assert "error: el contenedor del servidor se está reiniciando" in proc.stderr, proc.stderr
    assert (
        "última línea del registro: error de configuración: WEB_CONCURRENCY debe ser un número "
        "entero (recibido: 'dos')" in proc.stderr
    ), proc.stderr


@pytest.fixture
def failed_trainer() -> Iterator[Project]:
    # Un texto de entrenamiento que no existe: el entrenador termina con error al empezar.
    project = Project(settings={"DATA": "data/no-existe.txt"})
    try:
        project.up()
        yield project
    finally:
        project.down()


def test_smoke_says_the_trainer_failed(failed_trainer: Project) -> None:
    def trainer_exited() -> bool:
        ps = failed_trainer.compose("ps", "-a", "--format", "{{.State}}", "trainer").stdout
        return "exited" in ps

    assert poll(trainer_exited, 180, interval=2)
    proc = make_smoke(failed_trainer)
    assert proc.returncode != 0, proc.stdout
    assert "el servidor responde pero aún no tiene modelo, y el entrenador terminó con error" in (
        proc.stderr
    ), proc.stdout + proc.stderr
    assert "no-existe.txt" in proc.stderr, proc.stderr

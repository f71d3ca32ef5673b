"""Comunes a las pruebas de Docker: sin motor de contenedores, fallan (no se saltan)."""

from __future__ import annotations

import pytest

from tests.helpers.dockerlib import docker


@pytest.fixture(scope="session", autouse=True)
def engine() -> None:
    proc = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=60)
    if proc.returncode != 0:
        pytest.fail(
            "no hay motor de contenedores con el que hablar (docker info falló). En estas "
            f"máquinas: bash ../shared/ctr/setup.sh\n{proc.stderr}"
        )

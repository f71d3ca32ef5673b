"""Ajustes del servidor desde el entorno, con el proceso real (``python -m server`` → gunicorn).

Vacío vale lo mismo que sin definir: compose pasa ``WEB_CONCURRENCY=`` (y el resto) cuando .env
no las define, y gunicorn lee alguna por su cuenta al importarse, antes de nuestra configuración.
Y el número de workers por defecto sale de los núcleos que el proceso puede usar, con tope.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from srv_helpers import ROOT, ServerProcess, python_env

from server import settings
from server.__main__ import GUNICORN_IMPORT_VARS
from server.cpus import cgroup_cpu_limit


def documented_variables() -> list[str]:
    """Las variables de la tabla de server/settings.py (la que imprime ``--help``)."""
    names = re.findall(r"^([A-Z][A-Z_]+)\s", settings.__doc__ or "", re.MULTILINE)
    assert len(names) >= 15, names
    return names


def compose_server_variables() -> set[str]:
    """Las que compose pasa al servidor desde .env (``NOMBRE: ${NOMBRE:-}``)."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    server = text.split("\n  server:\n", 1)[1]
    return set(re.findall(r"^\s+([A-Z_]+): \$\{\1:-\}", server, re.MULTILINE))


def test_compose_passes_only_documented_variables() -> None:
    assert compose_server_variables() <= set(documented_variables())


def test_every_variable_empty_is_the_default(checkpoint: Path, tmp_path: Path) -> None:
    # CHECKPOINT_DIR vacío = «checkpoints» del directorio desde el que se lanza.
    (tmp_path / "checkpoints").mkdir()
    shutil.copy2(checkpoint, tmp_path / "checkpoints" / "tiny.pt")
    empty = {name: "" for name in [*documented_variables(), *GUNICORN_IMPORT_VARS]}
    # PORT vacío es el 8000 de siempre, que en una máquina compartida puede estar ocupado: el
    # puerto lo da --bind (una opción de gunicorn, que gana a PORT) y PORT sigue vacío.
    srv = ServerProcess(tmp_path, args=("--bind", "127.0.0.1:0"), **empty)
    with srv.start():
        srv.wait_until(lambda: srv.get("/ready").status_code == 200, timeout=120, what="/ready")
        info = srv.get("/info").json()
        assert info["model"]["name"] == "tiny"
        assert info["auth_required"] is False
        resp = srv.post("/generate", {"prompt": "Hola", "max_new_tokens": 5})
        assert resp.status_code == 200, resp.text
    # Los valores por defecto de la tabla, no otros: 4 hilos, 1 de torch, lotes sí.
    assert "worker(s) × 4 hilo(s), 1 hilo(s) de torch por worker" in srv.log()
    assert "generación por lotes: sí" in srv.log()


def test_invalid_web_concurrency_is_a_spanish_error_not_a_traceback(tmp_path: Path) -> None:
    # gunicorn haría int("dos") al importarse; el lanzador lo valida antes con nuestro mensaje.
    env = python_env(CHECKPOINT_DIR=str(tmp_path), WEB_CONCURRENCY="dos")
    proc = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "WEB_CONCURRENCY debe ser un número entero (recibido: 'dos')" in out, out
    assert "Traceback" not in out, out


def workers_in_log(srv: ServerProcess) -> int:
    match = re.search(r"con (\d+) worker\(s\)", srv.log())
    assert match, srv.log()
    return int(match.group(1))


@pytest.mark.skipif(not shutil.which("taskset"), reason="hace falta taskset (util-linux)")
def test_default_workers_follow_the_cpus_the_process_may_use(tmp_path: Path) -> None:
    # Sin WEB_CONCURRENCY: tantos workers como núcleos usables (máx. 4). Con taskset el proceso
    # solo puede usar un núcleo aunque la máquina tenga más: un worker, no os.cpu_count().
    first_cpu = min(os.sched_getaffinity(0))
    pinned = ServerProcess(tmp_path / "uno", CHECKPOINT_DIR=str(tmp_path))
    pinned_cmd = ["taskset", "-c", str(first_cpu), sys.executable, "-m", "server"]
    with pinned.start(command=pinned_cmd):
        assert workers_in_log(pinned) == 1
    free = ServerProcess(tmp_path / "todos", CHECKPOINT_DIR=str(tmp_path))
    expected = min(4, len(os.sched_getaffinity(0)))
    quota = cgroup_cpu_limit()  # si la máquina de pruebas tiene cuota, también cuenta
    if quota is not None:
        expected = max(1, min(expected, int(quota)))
    with free.start():
        assert workers_in_log(free) == expected

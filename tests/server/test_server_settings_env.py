"""Ajustes del servidor desde el entorno, con el proceso real (``python -m server`` → gunicorn).

Vacío vale lo mismo que sin definir: compose pasa ``WEB_CONCURRENCY=`` (y el resto) cuando .env
no las define, y gunicorn lee alguna por su cuenta al importarse, antes de nuestra configuración.
Y el número de workers por defecto sale de los núcleos que el proceso puede usar, con tope.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.cpus import cgroup_cpu_limit
from server.settings import VARIABLES
from server.start import GUNICORN_IMPORT_VARS
from tests.helpers.cli import ROOT
from tests.helpers.server import ServerProcess, python_env


def documented_variables() -> list[str]:
    """Las variables de server/settings.py (de ahí salen --help, la tabla y .env.example)."""
    return [var.name for var in VARIABLES]


def compose_server_environment() -> str:
    """El bloque ``environment:`` del servicio server de compose.yaml."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    server = text.split("\n  server:\n", 1)[1]
    return server.split("\n    environment:\n", 1)[1].split("\n    ports:", 1)[0]


def compose_server_variables() -> set[str]:
    """Las que compose pasa al servidor desde .env (``NOMBRE: ${NOMBRE:-}``)."""
    env = compose_server_environment()
    return set(re.findall(r"^\s+([A-Z_]+): \$\{\1:-\}", env, re.MULTILINE))


# Las que compose no pasa tal cual desde .env, y por qué. Cualquier otra variable del servidor
# debe pasar como ``NOMBRE: ${NOMBRE:-}`` (vacía = el valor por defecto del servidor).
COMPOSE_SETS_ITSELF = {
    # En .env, HOST y PORT dicen dónde se publica el puerto en tu máquina (ports:); dentro del
    # contenedor el servidor escucha siempre en 0.0.0.0:8000.
    "HOST": "0.0.0.0",
    "PORT": '"8000"',
    # La carpeta del volumen en la que escribe el entrenador, elegida con MODEL.
    "CHECKPOINT_DIR": "/checkpoints/${MODEL:-gpt}",
    # La imagen del servidor es de CPU; el DEVICE de .env es el del entrenamiento.
    "DEVICE": "cpu",
    # Solo sirve para elegir CHECKPOINT_DIR, que compose ya fija con él (None: no se pasa).
    "MODEL": None,
}


def test_compose_passes_every_server_variable_through() -> None:
    # Falla si se añade una variable a server/settings.py y no a compose.yaml (o al revés).
    assert compose_server_variables() == set(documented_variables()) - set(COMPOSE_SETS_ITSELF)
    env = compose_server_environment()
    for name, value in COMPOSE_SETS_ITSELF.items():
        assert name in documented_variables(), name
        fixed = re.findall(rf"^\s+{name}: (.*)$", env, re.MULTILINE)
        assert fixed == ([] if value is None else [value]), (name, fixed)


# Se ejecuta dentro de una red propia (unshare -n): ahí el 127.0.0.1:8000 por defecto está libre
# aunque la máquina lo tenga ocupado, así que PORT también puede ir vacío, como en compose.
NAMESPACE_DRIVER = r"""
import json, subprocess, sys, time, urllib.request
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
srv = subprocess.Popen([sys.executable, "-m", "server"], stdout=open("server.log", "wb"),
                       stderr=subprocess.STDOUT)
base = "http://127.0.0.1:8000"
out = {}
try:
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(base + "/ready", timeout=5).status == 200:
                out["ready"] = True
                break
        except Exception:
            time.sleep(0.5)
    if out.get("ready"):
        out["info"] = json.load(urllib.request.urlopen(base + "/info", timeout=10))
        req = urllib.request.Request(
            base + "/generate", data=json.dumps({"prompt": "Hola", "max_new_tokens": 5}).encode(),
            headers={"Content-Type": "application/json"})
        out["generate"] = json.load(urllib.request.urlopen(req, timeout=60))
finally:
    srv.terminate()
    srv.wait(timeout=60)
print(json.dumps(out))
"""


def test_every_variable_empty_is_the_default(checkpoint: Path, tmp_path: Path) -> None:
    # CHECKPOINT_DIR y MODEL vacíos = «checkpoints/gpt» del directorio desde el que se lanza.
    (tmp_path / "checkpoints" / "gpt").mkdir(parents=True)
    shutil.copy2(checkpoint, tmp_path / "checkpoints" / "gpt" / "tiny.pt")
    empty = {name: "" for name in [*documented_variables(), *GUNICORN_IMPORT_VARS]}
    assert shutil.which("unshare") and shutil.which("ip"), "hacen falta unshare e ip (util-linux)"
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", NAMESPACE_DRIVER],
        cwd=tmp_path, env=python_env(**empty), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert proc.returncode == 0, proc.stderr + log
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.get("ready"), log
    assert out["info"]["model"]["name"] == "tiny"
    assert out["info"]["auth_required"] is False
    assert out["generate"]["text"], out
    # Los valores por defecto de la tabla, no otros: 64 plazas + 8 = 72 hilos, 1 de torch, lotes
    # sí, puerto 8000.
    assert "worker(s) × 72 hilo(s), 1 hilo(s) de torch por worker" in log
    assert "generación por lotes: sí" in log
    assert "escuchando en http://127.0.0.1:8000" in log


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

"""`docker compose up` de verdad: construir, entrenar unos pasos, servir, generar y bajar.

Necesita un motor de contenedores (Docker, o en estas máquinas el de ../shared/ctr/setup.sh).
`make test-docker` las ejecuta; `make test` no (marcador ``docker``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.checkpoints import train_tiny
from tests.helpers.dockerlib import (
    ROOT,
    TINY_TRAINING,
    Project,
    docker,
    generate_until_ok,
    http,
    poll,
)

pytestmark = pytest.mark.docker

APP_UID = "1000"  # el usuario `app` de las imágenes


@pytest.fixture(scope="module")
def stack() -> Iterator[Project]:
    """El proyecto de compose entero (entrenador + servidor) con un entrenamiento corto."""
    # TINY_TRAINING: un GPT diminuto para que el primer checkpoint llegue en segundos.
    # RELOAD_INTERVAL=1: test_sigterm... espera a que se sirva el checkpoint nuevo.
    # WEB_CONCURRENCY=1: estas pruebas hacen una petición a la vez; un worker (en vez de uno por
    # núcleo) deja memoria y CPU a las demás pruebas de la máquina. Los valores por defecto de
    # un usuario los prueba test_user_path.py.
    project = Project(settings={**TINY_TRAINING, "RELOAD_INTERVAL": "1", "WEB_CONCURRENCY": "1"})
    try:
        project.up()
        yield project
    finally:
        project.down()


def service_config(*files: str) -> dict:
    return json.loads(Project(files=files).compose("config", "--format", "json").stdout)


def test_compose_files_are_valid_and_safe_by_default() -> None:
    cpu = service_config("compose.yaml")["services"]
    assert set(cpu) == {"trainer", "server", "proxy"}
    # Solo nginx publica el puerto: así `--scale server=N` no choca por él.
    (port,) = cpu["proxy"]["ports"]
    assert port["host_ip"] == "127.0.0.1" and port["target"] == 8000
    assert "ports" not in cpu["server"] and "ports" not in cpu["trainer"]
    assert cpu["proxy"]["read_only"] and cpu["proxy"]["cap_drop"] == ["ALL"]
    assert "depends_on" not in cpu["server"]
    (volume,) = cpu["server"]["volumes"]
    assert volume["target"] == "/checkpoints" and volume["read_only"]
    assert cpu["trainer"]["user"] == f"{APP_UID}:{APP_UID}"

    gpu = service_config("compose.yaml", "compose.gpu.yaml")["services"]
    assert gpu["trainer"]["build"]["dockerfile"] == "docker/trainer-cuda.Dockerfile"
    (device,) = gpu["trainer"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["trainer"]["environment"]["DEVICE"] == "cuda"
    assert "depends_on" not in gpu["server"]


def test_trainer_and_server_share_one_folder_per_model() -> None:
    # Un modelo por carpeta, como make train / make train-bigram: MODEL cambia las dos a la vez.
    cases = [({}, "/checkpoints/gpt"), ({"MODEL": "bigram"}, "/checkpoints/bigram")]
    for settings, folder in cases:
        config = json.loads(
            Project(settings=settings).compose("config", "--format", "json").stdout
        )["services"]
        assert config["trainer"]["environment"]["CHECKPOINT_DIR"] == folder
        assert config["server"]["environment"]["CHECKPOINT_DIR"] == folder


def test_generate_answers_after_a_short_training(stack: Project) -> None:
    # /health responde en cuanto gunicorn escucha, antes de que exista ningún checkpoint.
    assert poll(lambda: http("GET", f"{stack.url}/health")[0] == 200, 300), "/health no responde"
    result = generate_until_ok(stack.url, seconds=300)
    assert result["model"]["type"] == "gpt"


def test_server_runs_as_non_root(stack: Project) -> None:
    uid = stack.compose("exec", "-T", "server", "id", "-u").stdout.strip()
    assert uid == APP_UID
    # El proceso principal (python -m server, PID 1), no solo el `exec`: Uid real/efectivo.
    status = stack.compose("exec", "-T", "server", "cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, re.MULTILINE)
    assert uids and set(uids.group(1).split()) == {APP_UID}, status


def test_server_cannot_write_checkpoints(stack: Project) -> None:
    proc = stack.compose(
        "exec", "-T", "server", "touch", "/checkpoints/intruso.pt", check=False, timeout=60
    )
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr, proc.stderr


def test_trainer_finishes_and_writes_as_app_user(stack: Project) -> None:
    def finished() -> dict | None:
        ps = stack.compose("ps", "-a", "--format", "json", "trainer").stdout
        rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
        return rows[0] if rows and rows[0]["State"] == "exited" else None

    row = poll(finished, 300, interval=2)
    assert row, "el entrenador no terminó"
    assert row["ExitCode"] == 0, stack.compose("logs", "trainer").stdout
    logs = stack.compose("logs", "--no-color", "trainer").stdout
    assert "Resumen del entrenamiento" in logs
    # Un modelo por carpeta: el GPT por defecto en /checkpoints/gpt.
    owners = stack.compose("exec", "-T", "server", "sh", "-c", "stat -c %u /checkpoints/gpt/*.pt")
    assert set(owners.stdout.split()) == {APP_UID}


def test_container_checkpoint_works_with_native_generate(stack: Project, tmp_path: Path) -> None:
    generate_until_ok(stack.url, seconds=300)  # hay al menos un checkpoint en el volumen
    # El paso documentado en docs/docker.md: copiar del volumen (vía el servidor) a ./checkpoints.
    # `docker compose cp` escribe los ficheros como el usuario que lo ejecuta.
    stack.compose("cp", "server:/checkpoints/.", str(tmp_path))
    ckpts = sorted((tmp_path / "gpt").glob("*.pt"))  # la carpeta de make generate: checkpoints/gpt
    assert ckpts, list(tmp_path.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.generate", "--ckpt", str(tmp_path / "gpt"),
         "--prompt", "Hola", "--max-new-tokens", "20", "--seed", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Hola") and len(proc.stdout.strip()) > len("Hola")


def test_trainer_writes_host_folder_as_the_host_user(stack: Project, tmp_path: Path) -> None:
    # CHECKPOINTS_MOUNT=<carpeta del host> + APP_UID/APP_GID = tu usuario (docs/docker.md): los
    # checkpoints del contenedor son tuyos y la CLI nativa los usa sin sudo. Como root (CI) se
    # usa un UID cualquiera distinto de 0 y de 1000, dueño de la carpeta.
    uid = os.getuid() or 4321
    gid = os.getgid() or 4321
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    if os.getuid() == 0:
        os.chown(folder, uid, gid)
    host = Project(
        settings={**TINY_TRAINING, "CHECKPOINTS_MOUNT": str(folder), "APP_UID": str(uid),
                  "APP_GID": str(gid), "RUN_NAME": "del-contenedor"}
    )  # fmt: skip
    try:
        host.compose("run", "--rm", "--no-deps", "trainer", timeout=300)
    finally:
        host.down()
    ckpt = folder / "gpt" / "del-contenedor.pt"
    assert ckpt.is_file(), list(folder.iterdir())
    assert (ckpt.stat().st_uid, ckpt.stat().st_gid) == (uid, gid)
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.generate", "--ckpt", str(ckpt), "--prompt", "Hola",
         "--max-new-tokens", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("Hola"), proc.stderr


def test_sigterm_saves_a_checkpoint_that_the_server_loads(stack: Project) -> None:
    # Un entrenamiento largo, parado con `docker stop` (SIGTERM): el entrypoint hace exec, así que
    # la señal llega a python, que guarda y sale con 0. El servidor carga ese checkpoint nuevo.
    name = stack.compose(
        "run", "-d", "trainer", "--max-steps", "100000", "--run-name", "largo"
    ).stdout.strip()
    try:
        started = poll(lambda: "paso 20/" in docker("logs", name, check=False).stdout, 180, 1)
        assert started, docker("logs", name, check=False).stdout
        docker("stop", "--time", "60", name, timeout=120)
        code = docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = docker("logs", name, check=False)
        assert code == "0", logs.stdout + logs.stderr
        assert "Entrenamiento interrumpido" in logs.stdout, logs.stdout
        assert "SIGTERM" in logs.stderr, logs.stderr

        def serving_largo() -> bool:
            code, body = http("GET", f"{stack.url}/info")
            return code == 200 and (body.get("model") or {}).get("run_name") == "largo"

        assert poll(serving_largo, 60), http("GET", f"{stack.url}/info")
    finally:
        docker("rm", "-f", name, check=False)


def test_server_container_is_healthy(stack: Project) -> None:
    # El HEALTHCHECK de la imagen (GET /ready: sano solo con un modelo cargado), cada 15 s.
    container = stack.compose("ps", "-q", "server").stdout.strip()

    def healthy() -> bool:
        state = docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout
        return state.strip() == "healthy"

    assert poll(healthy, 300, interval=3), docker("inspect", container).stdout[-2000:]


def test_server_container_serves_a_natively_trained_checkpoint(
    stack: Project, tmp_path: Path
) -> None:
    # Lo que hace `make train` (la misma CLI, un modelo diminuto), en una carpeta del host.
    ckpt_dir = tmp_path / "checkpoints"
    (ckpt_dir / "gpt").mkdir(parents=True)  # make train escribe en checkpoints/gpt
    train_tiny(ckpt_dir / "gpt", "nativo", max_steps=20)
    # pytest crea sus carpetas temporales con permisos 700; una carpeta normal (umask 022) es 755
    # y sus checkpoints 644: el usuario `app` del contenedor los lee aunque sean de otro usuario.
    tmp_path.chmod(0o755)
    ckpt_dir.chmod(0o755)
    (ckpt_dir / "gpt").chmod(0o755)
    native = Project(settings={"CHECKPOINTS_MOUNT": str(ckpt_dir)})
    try:
        native.compose("up", "-d", "--no-build", "server", "proxy", timeout=300)
        result = generate_until_ok(native.url, seconds=180)
        assert result["model"]["name"] == "nativo"
    finally:
        native.down()

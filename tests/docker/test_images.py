"""Las imágenes por dentro: usuario sin privilegios, sin compiladores, etiquetas OCI, y la
variante CUDA del entrenador construida y ejecutada.

La variante CUDA se construye aquí sobre una base sustituta sin GPU ni CUDA (la misma
python:3.11-slim, pasada como CUDA_IMAGE) y con las ruedas CPU de torch: se prueba el Dockerfile
(apt, entorno virtual, dependencias fijadas, usuario, entrypoint) y un entrenamiento corto en CPU.
Lo que no se puede probar sin GPU es torch con CUDA: esa frontera no existe en esta máquina.
Se pasa el nombre de la base como argumento en vez de etiquetar la sustituta como
nvidia/cuda:…: así, en un host con Docker de verdad, no queda una imagen falsa con ese nombre.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.dockerlib import (
    PROXY_IMAGE,
    ROOT,
    SERVER_IMAGE,
    TINY_TRAINING,
    TRAINER_IMAGE,
    Project,
    docker,
    run,
)

pytestmark = pytest.mark.docker

CUDA_TEST_IMAGE = "llm-desde-cero-trainer:cuda-test"
STANDIN_BUILD_ARGS = {
    "CUDA_IMAGE": "python:3.11-slim",
    "TORCH_INDEX_URL": "https://download.pytorch.org/whl/cpu",
    # La sustituta de estas máquinas ya trae torch 2.13.0+cpu en el Python del sistema: con
    # --system-site-packages pip lo da por instalado. En un host normal, lo baja del índice CPU.
    "VENV_ARGS": "--system-site-packages",
}
COMPILERS = ("gcc", "cc", "g++", "c++", "clang", "make")


@pytest.fixture(scope="module")
def cpu_images() -> None:
    """Las imágenes CPU (trainer, server y proxy), como las construye compose."""
    Project().compose("build", timeout=1800)


@pytest.fixture(scope="module")
def cuda_image() -> Iterator[str]:
    args = [arg for k, v in STANDIN_BUILD_ARGS.items() for arg in ("--build-arg", f"{k}={v}")]
    docker(
        "build", "-f", "docker/trainer-cuda.Dockerfile", *args, "-t", CUDA_TEST_IMAGE, ".",
        timeout=1800,
    )  # fmt: skip
    yield CUDA_TEST_IMAGE


def shell(image: str, script: str) -> str:
    return docker("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout


@pytest.mark.parametrize("image", [TRAINER_IMAGE, SERVER_IMAGE, PROXY_IMAGE])
def test_cpu_images_user_labels_and_no_compilers(cpu_images: None, image: str) -> None:
    assert shell(image, "id -u").strip() == "1000"
    found = shell(image, f"for c in {' '.join(COMPILERS)}; do command -v $c; done; true")
    assert found.strip() == "", f"compiladores en {image}: {found}"
    title = docker(
        "inspect", "--format", '{{index .Config.Labels "org.opencontainers.image.title"}}', image
    ).stdout.strip()
    assert title == image.split(":")[0]
    assert set(shell(image, "ls -A /app").split()) <= {"shared", "trainer", "server", "data",
                                                        "docker"}  # fmt: skip


def test_cpu_trainer_image_has_no_cuda_libraries(cpu_images: None) -> None:
    out = docker(
        "run", "--rm", "--entrypoint", "python", TRAINER_IMAGE, "-c",
        "import torch; print(torch.__version__, torch.version.cuda)",
    ).stdout.split()  # fmt: skip
    assert out[0].startswith("2.13.0") and out[1] == "None", out
    nvidia = shell(TRAINER_IMAGE, "pip list 2>/dev/null | grep -i -E '^nvidia-|^triton' ; true")
    assert nvidia.strip() == "", nvidia


def test_cuda_variant_builds_and_trains(cuda_image: str) -> None:
    assert shell(cuda_image, "id -u").strip() == "1000"
    found = shell(cuda_image, f"for c in {' '.join(COMPILERS)}; do command -v $c; done; true")
    assert found.strip() == "", f"compiladores en la imagen final: {found}"
    # pip se queda en la etapa de construcción: el entorno virtual final no lo trae.
    assert "pip" not in shell(cuda_image, "ls /opt/venv/bin")
    # Sin GPU aquí: el mismo entrypoint, con DEVICE=cpu, entrena unos pasos y guarda.
    env = [arg for k, v in {**TINY_TRAINING, "DEVICE": "cpu"}.items() for arg in ("-e", f"{k}={v}")]
    proc = docker("run", "--rm", *env, cuda_image, "--run-name", "cuda-cpu", timeout=300)
    assert "Resumen del entrenamiento" in proc.stdout, proc.stdout + proc.stderr
    assert "/checkpoints/cuda-cpu.pt" in proc.stdout


def test_dockerignore_keeps_local_files_out_of_the_build(tmp_path: Path) -> None:
    """Con el .dockerignore del repositorio, al motor no llegan .git, entornos virtuales, cachés,
    checkpoints ni .env (se prueba con un contexto que los tiene todos)."""
    ctx = tmp_path / "ctx"
    wanted = [
        "pyproject.toml",
        "shared/tokenizer.py",
        "trainer/cli.py",
        "server/app.py",
        "data/tiny_spanish.txt",
        "docker/trainer-entrypoint.sh",
    ]
    unwanted = [".git/HEAD", ".venv/bin/python", ".env", ".env.local", "checkpoints/gpt.pt",
                "data/viejo.pt", "gpt.metrics.jsonl", "shared/__pycache__/tok.cpython-311.pyc",
                ".pytest_cache/README.md", ".ruff_cache/CACHEDIR.TAG", "tests/test_x.py",
                "bench-results/r.json", "bench/__main__.py"]  # fmt: skip
    for rel in wanted + unwanted:
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text("x\n")
    shutil.copy(ROOT / ".dockerignore", ctx / ".dockerignore")
    probe = f"llm-desde-cero-context:{uuid.uuid4().hex[:8]}"
    dockerfile = "FROM python:3.11-slim\nCOPY . /ctx\n"
    run(["docker", "build", "-q", "-f", "-", "-t", probe, str(ctx)], stdin=dockerfile, timeout=600)
    try:
        listing = shell(probe, "cd /ctx && find . -type f | sort")
    finally:
        docker("rmi", "-f", probe, check=False)
    copied = {line.removeprefix("./") for line in listing.split()}
    assert set(wanted) <= copied, copied
    assert not set(unwanted) & copied, set(unwanted) & copied


def test_server_without_a_model_is_never_healthy_and_proxy_runs_nginx(cpu_images: None) -> None:
    # Sin checkpoints (una carpeta vacía): /health respondería 200, /ready no. El motor ejecuta
    # el HEALTHCHECK de la imagen cada 15 s; en 50 s el contenedor nunca debe salir «healthy».
    name = f"llmdc-sin-modelo-{os.getpid()}"
    docker("run", "-d", "--name", name, "--tmpfs", "/checkpoints", SERVER_IMAGE)
    try:
        states = set()
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline:
            state = docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout
            states.add(state.strip())
            time.sleep(3)
        assert "healthy" not in states and states & {"starting", "unhealthy"}, states
    finally:
        docker("rm", "-f", name, check=False)
    version = docker("run", "--rm", "--entrypoint", "nginx", PROXY_IMAGE, "-v").stderr
    assert "nginx/" in version, version
    # La configuración que escribe al arrancar es válida para nginx (nginx -t), sin privilegios.
    script = ("mkdir -p /tmp/nginx && python -m server.proxy_conf docker/nginx.conf "
              "> /tmp/nginx/nginx.conf && nginx -e stderr -t -c /tmp/nginx/nginx.conf")  # fmt: skip
    out = docker("run", "--rm", "--read-only", "--tmpfs", "/tmp", "--entrypoint", "sh",
                 PROXY_IMAGE, "-c", script)  # fmt: skip
    assert "test is successful" in out.stderr, out.stderr

"""Instala en el entorno virtual el torch fijado en pyproject.toml, desde el origen que conviene.

Lo llama `make install` con el Python de .venv, antes que el resto de dependencias. Por qué: en
Linux, el torch de PyPI es la versión con CUDA, unos 2,8 GB de descarga entre torch y los paquetes
nvidia-*, cuda-* y triton que arrastra; sin una GPU NVIDIA no sirven de nada. La rueda CPU del
índice de PyTorch pesa unos 190 MB y es la misma que usa la imagen de Docker.

Cómo decide (la primera regla que aplica):

1. ``TORCH_INDEX_URL`` (entorno, .env o ``make install TORCH_INDEX_URL=...``): ese índice, tal cual.
2. Fuera de Linux, PyPI, que allí ya sirve la rueda que conviene: en macOS la que trae MPS (la
   GPU de los Mac con Apple Silicon; en un Mac Intel, CPU), en Windows la de solo CPU. El índice
   CPU de PyTorch es para Linux.
3. Linux con GPU NVIDIA (``nvidia-smi -L`` lista alguna): PyPI, la versión con CUDA.
4. Linux sin GPU: una rueda CPU que pip ya tenga sin red (sus find-links, p. ej. un aula con un
   directorio de ruedas; así es en las máquinas de CI de este proyecto) o, si no, el índice CPU de
   PyTorch, si responde en pocos segundos.
5. Si no responde, se para con un error que explica las salidas, en vez de bajar 2,8 GB de CUDA.

torch se instala sin sus dependencias (``--no-deps``): filelock, sympy, etc. llegan de PyPI con el
resto en el paso siguiente (los bloqueos con hashes de requirements/, ``make lock``).
``--dry-run`` solo imprime la decisión (lo usan las pruebas); ``--cpu-index`` cambia el índice CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI_TORCH_SIZE = "unos 2,8 GB"
CPU_WHEEL_SIZE = "unos 190 MB"
PROBE_TIMEOUT_S = 10.0


@dataclass
class Plan:
    """Qué origen se usa, por qué, y los argumentos de pip que lo piden."""

    source: str  # custom | pypi | local | cpu-index | none
    reason: str
    pip_args: list[str] = field(default_factory=list)
    spec: str = ""


def pinned_torch(pyproject: Path) -> str:
    """La versión de ``torch==X`` en las dependencias de pyproject.toml."""
    with pyproject.open("rb") as fh:
        deps: list[str] = tomllib.load(fh)["project"]["dependencies"]
    for dep in deps:
        name, sep, version = dep.partition("==")
        if name.strip().lower() == "torch" and sep:
            return version.strip()
    sys.exit(f"error: {pyproject} no fija torch con == en [project].dependencies")


def nvidia_gpu() -> bool:
    """¿Hay GPU NVIDIA con controlador? nvidia-smi viene con el controlador (también en WSL)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def local_cpu_wheel(version: str) -> bool:
    """¿Puede pip instalar torch==X+cpu sin ir a ningún índice (solo con sus find-links)?"""
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    cmd += ["--no-index", "--no-deps", f"torch=={version}+cpu"]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def index_answers(url: str) -> bool:
    """¿Responde el índice (la página de torch) en menos de PROBE_TIMEOUT_S segundos?"""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/torch/", timeout=PROBE_TIMEOUT_S) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def installed_torch() -> str | None:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def decide(version: str, cpu_index: str) -> Plan:
    spec = f"torch=={version}"
    custom = os.environ.get("TORCH_INDEX_URL", "").strip()
    if custom:
        return Plan("custom", f"TORCH_INDEX_URL={custom}", ["--index-url", custom], spec)
    system = platform.system()
    if system == "Darwin":
        why = "macOS: la rueda de PyPI, con MPS (la GPU de Apple Silicon; en un Mac Intel, CPU)"
        return Plan("pypi", why, [], spec)
    if system != "Linux":
        return Plan("pypi", f"{system}: la rueda de PyPI, que allí es solo CPU", [], spec)
    if nvidia_gpu():
        why = f"hay GPU NVIDIA (nvidia-smi): la versión con CUDA de PyPI, {PYPI_TORCH_SIZE}"
        return Plan("pypi", why, [], spec)
    if local_cpu_wheel(version):
        why = "sin GPU NVIDIA: la rueda CPU que pip ya tiene en este equipo (find-links)"
        return Plan("local", why, ["--no-index"], f"{spec}+cpu")
    if index_answers(cpu_index):
        why = f"sin GPU NVIDIA: la rueda CPU de {cpu_index}, {CPU_WHEEL_SIZE}"
        return Plan("cpu-index", why, ["--index-url", cpu_index], spec)
    why = f"""sin GPU NVIDIA y el índice CPU de PyTorch ({cpu_index}) no responde.
  El torch de PyPI para Linux es la versión con CUDA ({PYPI_TORCH_SIZE}), inútil sin GPU:
  no la bajo sin que lo pidas. Salidas:
    - vuelve a probar en un rato:          el mismo make
    - una réplica del índice CPU:          make install TORCH_INDEX_URL=https://…/whl/cpu
    - aceptar la versión con CUDA de PyPI: make install TORCH_INDEX_URL=https://pypi.org/simple"""
    return Plan("none", why, [], spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="solo imprime la decisión")
    parser.add_argument("--cpu-index", default=CPU_INDEX, help="índice de ruedas CPU de PyTorch")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args()

    version = pinned_torch(args.pyproject)
    have = installed_torch()
    if have is not None and have.split("+")[0] == version and not args.dry_run:
        print(f"torch {have} ya está instalado en este entorno.")
        return
    plan = decide(version, args.cpu_index)
    if args.dry_run:
        print(f"{plan.source}: {plan.reason}")
        print(" ".join(["pip", "install", *plan.pip_args, "--no-deps", plan.spec]))
        sys.exit(1 if plan.source == "none" else 0)
    if plan.source == "none":
        sys.exit(f"error: {plan.reason}")
    print(f"torch {version}: {plan.reason}", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *plan.pip_args, "--no-deps"]
    sys.exit(subprocess.run([*cmd, plan.spec]).returncode)


if __name__ == "__main__":
    main()

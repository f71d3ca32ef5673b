"""La CLI real como subproceso: la raíz del repositorio, el entorno de los hijos y textos cortos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Modelos diminutos en una máquina de 2 núcleos compartida: con un hilo por proceso se evita la
# sobresuscripción de OpenMP, que aquí multiplica por diez el tiempo de cada paso.
SUBPROCESS_ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "LLM_NO_PROGRESS": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}

# Un texto corto con todos los signos del español: suficiente para que los modelos aprendan algo.
SPANISH_SAMPLE = (
    "¿Qué tal estás, Ñandú? ¡Muy bien! «El pingüino güero comió ñoquis» —dijo la cigüeña.\n"
    "Árbol, época, índice, órbita, útil. El niño soñó con el año en que llovió ámbar.\n"
)

TINY_GPT_ARGS = [
    "--model", "gpt", "--n-embd", "32", "--n-head", "2", "--n-layer", "1",
    "--block-size", "32", "--batch-size", "8", "--eval-interval", "20", "--eval-iters", "2",
    "--no-progress",
]  # fmt: skip


def tiny_text(repeats: int = 40) -> str:
    return "".join(f"Línea {i}: " + SPANISH_SAMPLE for i in range(repeats))


def run_module(
    module: str, *args: str, timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Ejecuta ``python -m module`` de verdad, como lo haría un usuario."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=SUBPROCESS_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} falló ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc

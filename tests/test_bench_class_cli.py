"""`python -m bench.class_compose` con un ajuste que no existe: error en español y salida 2, antes
de tocar el motor de contenedores (la medida entera la prueba tests/docker/test_bench_class.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.cli import ROOT, SUBPROCESS_ENV


def test_bench_class_refuses_an_unknown_setting() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.class_compose", "--set", "MAX_CONCURRENTE=3"],
        cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--set espera VARIABLE=VALOR" in proc.stderr, proc.stderr

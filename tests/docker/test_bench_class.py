"""`make bench-class` funciona de verdad: levanta `docker compose up`, mide y lo recoge todo.

Una versión pequeña (1 réplica, 4 clientes, 20 caracteres): aquí no se mira la velocidad (eso
es el benchmark), sino que la orden entera corre, que nadie recibe un error y que el JSON y la
tabla dicen lo medido.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.dockerlib import PROXY_IMAGE, ROOT, SERVER_IMAGE, clean_env

pytestmark = pytest.mark.docker


def test_bench_class_measures_compose_and_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "clase.json"
    # Las imágenes de las pruebas (no pisan las de `make docker-build`).
    env = {**clean_env(), "SERVER_IMAGE": SERVER_IMAGE, "PROXY_IMAGE": PROXY_IMAGE}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.class_compose", "--replicas", "1", "--clients", "4",
         "--chars", "20", "--steps", "5", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    (row,) = run["rows"]
    assert row["clients"] == 4 and row["errors"] == 0, row
    assert row["ttft_p95_s"] > 0 and row["chars_per_s"] > 0, row
    # Lo que midió, con los valores por defecto: la línea de arranque de la réplica.
    assert "generación por lotes: sí" in run["settings"], run
    assert "1.er carácter p50" in proc.stdout and "núcleos" in proc.stdout, proc.stdout

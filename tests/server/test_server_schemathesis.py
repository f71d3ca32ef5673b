"""schemathesis contra /openapi.json del servidor real: ningún 5xx, respuestas conformes al
esquema, datos válidos aceptados y datos inválidos rechazados con 4xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.server import ServerProcess, python_env

# Pocos ejemplos por operación y semilla fija: cubre los límites de cada campo (fase de
# cobertura) y algo de datos aleatorios, en unos segundos y de forma reproducible.
MAX_EXAMPLES = "25"
SEED = "20261126"


# /v1/completions admite campos que no conoce (como la API de OpenAI), así que schemathesis le
# añade campos inventados, a veces enormes: un cuerpo inválido y además mayor que MAX_BODY_BYTES
# recibe 413, que también es rechazarlo. Los demás estados esperados son los de schemathesis.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
"""


def test_api_conforms_to_its_openapi_document(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    cmd = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(config),
        "run", server.url("/openapi.json"),
        "--checks", "all",
        "--max-examples", MAX_EXAMPLES,
        "--seed", SEED,
        "--workers", "1",
        "--request-timeout", "60",
        "--output-sanitize", "false",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=python_env(), capture_output=True, text=True, timeout=500
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "passed" in output and "failed" not in output.split("SUMMARY")[-1], output
    # Tras cientos de peticiones raras, el servidor sigue sano.
    assert server.get("/health").status_code == 200
    assert "Traceback" not in server.log()

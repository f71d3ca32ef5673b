"""Utilidades de las pruebas del servidor: entrenar un checkpoint diminuto con la CLI real y
lanzar el servidor real (``python -m server`` → gunicorn) en un puerto libre de loopback.

El lanzador es ``server/process.py`` (el mismo que usa el benchmark): PORT=0, el puerto leído
del registro de gunicorn, un directorio de trabajo propio y la lista única de variables.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from server import process as launcher
from server.process import server_env

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "tiny_spanish.txt"
PROMPT = "Hola"


def python_env(**extra: str) -> dict[str, str]:
    """El entorno de un proceso hijo sin las variables del servidor (las de la lista única de
    ``server/process.py``), más ``extra``."""
    return server_env(**extra)


def train_tiny(directory: Path, run_name: str = "tiny", max_steps: int = 40) -> Path:
    """Entrena un GPT diminuto con ``python -m trainer`` (unos segundos) y devuelve el .pt."""
    cmd = [
        sys.executable, "-m", "trainer", "--model", "gpt", "--data", str(DATA),
        "--max-steps", str(max_steps), "--n-embd", "32", "--n-head", "2", "--n-layer", "1",
        "--block-size", "32", "--batch-size", "8", "--eval-interval", "20", "--eval-iters", "2",
        "--checkpoint-dir", str(directory), "--run-name", run_name, "--no-progress",
        "--seed", "1337",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"el entrenamiento falló:\n{proc.stdout}\n{proc.stderr}"
    return directory / f"{run_name}.pt"


class ServerProcess(launcher.ServerProcess):
    """El lanzador del servidor (``server/process.py``, el mismo que usa el benchmark) con
    atajos para las pruebas: peticiones con ``requests`` y esperas sobre el registro."""

    # Esperas acotadas pero holgadas: vuelven en cuanto se cumple la condición, y en una
    # máquina cargada cargar PyTorch en cada worker puede llevar decenas de segundos.
    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log())) >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"no apareció {pattern!r} ×{count} en el registro:\n{self.log()}")

    def wait_until(self, predicate: Any, timeout: float = 120, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"no se cumplió a tiempo: {what}\n{self.log()[-4000:]}")

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(path), json=body, timeout=60, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=60, **kwargs)


def read_sse(resp: requests.Response) -> list[tuple[str, Any]]:
    """Lee una respuesta text/event-stream entera: [(evento, datos), ...]."""
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events: list[tuple[str, Any]] = []
    name, data = "message", []
    for line in resp.iter_lines(decode_unicode=True):
        if line == "":
            if data:
                raw = "\n".join(data)
                events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return events


def assert_error(
    resp: requests.Response, status: int, type_: str, param: str | None = None
) -> dict:
    """Comprueba la forma única de los errores y devuelve su cuerpo."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "type", "message", "param"}, err
    assert err["code"] == status and err["type"] == type_, err
    assert err["param"] == param, err
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    return err

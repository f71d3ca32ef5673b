"""Utilidades de las pruebas del servidor: entrenar un checkpoint diminuto con la CLI real y
lanzar el servidor real (``python -m server`` → gunicorn) en un puerto libre de loopback.

Cada servidor arranca con PORT=0 (el sistema elige un puerto libre, sin carreras) y se lee el
puerto de la línea «Listening at» del registro de gunicorn. Se lanza desde un directorio
temporal, para que un ``.env`` del repositorio no cambie los ajustes de las pruebas.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "tiny_spanish.txt"
PROMPT = "Hola"

# Las variables del servidor (server/settings.py): se quitan del entorno heredado.
SERVER_VARS = (
    "HOST PORT CHECKPOINT_DIR WEB_CONCURRENCY GUNICORN_THREADS GUNICORN_TIMEOUT TORCH_THREADS "
    "API_KEY MAX_NEW_TOKENS MAX_PROMPT_CHARS MAX_BODY_BYTES MAX_CONCURRENT_GENERATIONS "
    "RELOAD_INTERVAL LOG_LEVEL DEVICE PROMETHEUS_MULTIPROC_DIR BATCHING MODEL CLIENT_TIMEOUT"
).split()


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


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


class ServerProcess:
    """Un ``python -m server`` de verdad, con su registro en un fichero."""

    def __init__(
        self,
        workdir: Path,
        args: tuple[str, ...] = (),
        wrapper: tuple[str, ...] = (),
        **settings: str,
    ) -> None:
        self.workdir = workdir
        self.args = args  # opciones de gunicorn tras `python -m server`
        self.wrapper = wrapper  # delante del comando, p. ej. para bajar un ulimit
        self.log_path = workdir / "server.log"
        self.settings = {"HOST": "127.0.0.1", "PORT": "0", "LOG_LEVEL": "info", **settings}
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self, timeout: float = 90, command: list[str] | None = None) -> ServerProcess:
        """Lanza ``python -m server`` (u otro ``command`` que acabe en él, p. ej. con taskset)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - el proceso hijo lo usa hasta el final
        self.proc = subprocess.Popen(
            [*self.wrapper, *(command or [sys.executable, "-m", "server"]), *self.args],
            cwd=self.workdir,
            env=python_env(**self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self._wait_until_listening(timeout)
        except BaseException:
            self.stop()  # nunca dejar un gunicorn huérfano si el arranque falla
            raise
        return self

    def _wait_until_listening(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"el servidor terminó al arrancar:\n{self.log()}")
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", self.log())
            if match:
                self.base_url = f"http://127.0.0.1:{match.group(1)}"
                if self._healthy():
                    return
            time.sleep(0.2)
        raise AssertionError(f"el servidor no respondió a tiempo:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url("/health"), timeout=5).status_code == 200
        except requests.RequestException:  # aún cargando: el worker no acepta todavía
            return False

    def url(self, path: str) -> str:
        return self.base_url + path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

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

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


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

"""Arrancar el servidor real (``python -m server`` → gunicorn) como proceso hijo y pararlo.

Lo usan las pruebas del servidor y el benchmark (``python -m bench``): un solo lanzador y una
sola lista de variables. El servidor escucha en un puerto libre de loopback (PORT=0: lo elige
el sistema, sin carreras) y el puerto se lee de la línea «escuchando en» del registro de
gunicorn. Se lanza desde ``workdir``, para que un ``.env`` del repositorio no cambie los
ajustes, y el entorno heredado pierde todas las variables del servidor: solo cuentan las que
se pasan.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from server.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"escuchando en http://127\.0\.0\.1:(\d+)")

# Todas las variables que lee el servidor: las de server/settings.py y la que mira
# gunicorn.conf.py. Una prueba comprueba que Settings.from_env no lee ninguna que falte aquí.
SERVER_VARS = (*(var.name for var in VARIABLES), "PROMETHEUS_MULTIPROC_DIR")


def free_port() -> int:
    """Un puerto libre de 127.0.0.1 (el núcleo lo elige; se libera al cerrar el socket), para
    lo que no acepta PORT=0, como el puerto que publica compose."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerStartError(RuntimeError):
    """El servidor terminó al arrancar o no respondió a tiempo (el mensaje lleva su registro)."""


def server_env(**settings: str) -> dict[str, str]:
    """El entorno de este proceso sin las variables del servidor, más ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS}
    env["PYTHONPATH"] = str(ROOT)
    env.update(settings)
    return env


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:  # 503 en /ready mientras no hay modelo
        return exc.code
    except (urllib.error.URLError, OSError):  # aún arrancando
        return None


class ServerProcess:
    """Un ``python -m server`` de verdad, con su registro en ``workdir/server.log``.

    ``with ServerProcess(dir, CHECKPOINT_DIR=...).start() as srv:`` lo para al salir.
    """

    def __init__(
        self,
        workdir: Path,
        args: tuple[str, ...] = (),
        wrapper: tuple[str, ...] = (),
        **settings: str,
    ) -> None:
        self.workdir = workdir
        self.args = args  # opciones de gunicorn tras `python -m server`
        self.wrapper = wrapper  # delante del comando, p. ej. taskset o un ulimit más bajo
        self.log_path = workdir / "server.log"
        self.settings = {"HOST": "127.0.0.1", "PORT": "0", "LOG_LEVEL": "info", **settings}
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self, timeout: float = 90, command: list[str] | None = None) -> Self:
        """Arranca y espera a que /health responda (hay worker, haya modelo o no).
        ``command`` sustituye a ``python -m server`` (p. ej. con taskset delante)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # el hijo conserva su copia del descriptor
            self.proc = subprocess.Popen(
                [*self.wrapper, *(command or [sys.executable, "-m", "server"]), *self.args],
                cwd=self.workdir,
                env=server_env(**self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_for("/health", timeout)
        except BaseException:
            self.stop()  # nunca dejar un gunicorn huérfano si el arranque falla
            raise
        return self

    def wait_ready(self, timeout: float = 120) -> Self:
        """Espera a que /ready diga 200: un worker tiene el modelo cargado."""
        self._wait_for("/ready", timeout)
        return self

    def _wait_for(self, path: str, timeout: float) -> None:
        assert self.proc is not None, "start() primero"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"el servidor terminó al arrancar:\n{self.log()[-4000:]}")
            if not self.base_url:
                match = LISTENING.search(self.log())
                if match:
                    self.base_url = f"http://127.0.0.1:{match.group(1)}"
            if self.base_url and _status(self.url(path)) == 200:
                return
            time.sleep(0.2)
        raise ServerStartError(
            f"el servidor no respondió 200 en {path} en {timeout:.0f} s:\n{self.log()[-4000:]}"
        )

    @property
    def port(self) -> int:
        """El puerto en el que escucha (el que eligió el núcleo con PORT=0)."""
        return int(self.base_url.rsplit(":", 1)[1])

    def url(self, path: str = "") -> str:
        return self.base_url + path

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (parada ordenada de gunicorn); si no basta, SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

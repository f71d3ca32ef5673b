"""Ayudantes de las pruebas de Docker: el CLI `docker` real, proyectos de compose aislados y HTTP.

Todo pasa por el CLI `docker` / `docker compose` de verdad, así que las pruebas valen igual con
Docker y con cualquier motor compatible (aquí, podman detrás del mismo CLI).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.server_process import free_port
from server.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]

# Imágenes propias de las pruebas: no pisan las que construye `make docker-build`.
# TEST_IMAGE_TAG separa las de dos copias del repositorio que prueban a la vez en un motor.
_TAG = os.environ.get("TEST_IMAGE_TAG", "").strip() or "test"
TRAINER_IMAGE = f"llm-desde-cero-trainer:{_TAG}"
SERVER_IMAGE = f"llm-desde-cero-server:{_TAG}"
PROXY_IMAGE = f"llm-desde-cero-proxy:{_TAG}"

# Variables que compose interpola o que leen los contenedores: las del entorno de quien lanza
# las pruebas (o su .env) no deben cambiar lo que se prueba, así que se quitan y se fijan aquí.
# Las del servidor salen de su lista única (server/settings.py).
SETTINGS = tuple(dict.fromkeys((
    "DATA", "MAX_STEPS", "DEVICE", "CHECKPOINT_DIR", "N_EMBD", "N_HEAD", "N_LAYER", "BATCH_SIZE",
    "BLOCK_SIZE", "SEED", "TRAIN_ARGS", "MODEL", "RUN_NAME", "CHECKPOINTS_MOUNT", "APP_UID",
    "APP_GID", "TRAINER_IMAGE", "TRAINER_CUDA_IMAGE", "SERVER_IMAGE", "PROXY_IMAGE", "GIT_REVISION",
    "COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME",
    *(var.name for var in VARIABLES),
)))  # fmt: skip

# Un entrenamiento de pocos pasos con un GPT diminuto: checkpoint en la evaluación del paso 20.
TINY_TRAINING = {
    "MAX_STEPS": "40",
    "N_EMBD": "32",
    "N_HEAD": "2",
    "N_LAYER": "1",
    "BLOCK_SIZE": "32",
    "BATCH_SIZE": "8",
    "TRAIN_ARGS": "--eval-interval 20 --eval-iters 2",
}


def clean_env() -> dict[str, str]:
    """El entorno de quien prueba sin ningún ajuste del proyecto: los valores por defecto de
    compose.yaml, como los tiene un usuario sin .env. Lo que una prueba fije, con su motivo."""
    return {k: v for k, v in os.environ.items() if k not in SETTINGS}


def run(
    args: list[str],
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        input=stdin,
        cwd=ROOT,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"falló ({proc.returncode}): {' '.join(args)}\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], timeout=timeout, check=check)


@dataclass
class Project:
    """Un proyecto de compose con nombre único: sus contenedores, red y volúmenes son solo suyos."""

    files: tuple[str, ...] = ("compose.yaml",)
    settings: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"llmdc-test-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)

    @property
    def env(self) -> dict[str, str]:
        env = clean_env()
        # Las mismas imágenes que construye `docker compose up` (mismo Dockerfile y destinos),
        # con otra etiqueta: no pisan las de `make docker-build` ni las de otra copia del repo.
        # PORT: uno libre, para no chocar con un servidor que ya escuche en el 8000.
        env.update(
            {
                "TRAINER_IMAGE": TRAINER_IMAGE,
                "SERVER_IMAGE": SERVER_IMAGE,
                "PROXY_IMAGE": PROXY_IMAGE,
                "PORT": str(self.port),
            }
        )
        env.update(self.settings)
        return env

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        files = [arg for f in self.files for arg in ("-f", f)]
        # --env-file .env.example (todo comentado): el .env de quien prueba no entra en la
        # prueba, y de paso se comprueba que compose entiende el fichero de ejemplo.
        base = ["docker", "compose", "--env-file", str(ROOT / ".env.example"), "-p", self.name]
        return run([*base, *files, *args], env=self.env, timeout=timeout, check=check)

    def up(self, *services: str) -> float:
        """``compose build`` y ``up -d`` (de todo o de ``services``); devuelve el instante en que
        empezó el ``up``, para medir desde ahí lo que tarda el primer texto."""
        self.compose("build", *services, timeout=1800)
        started = time.monotonic()
        self.compose("up", "-d", "--no-build", *services, timeout=300)
        return started

    def down(self) -> None:
        logs = self.compose("logs", "--no-color", "--tail", "60", check=False)
        print(f"--- registros de {self.name} ---\n{logs.stdout}{logs.stderr}")
        self.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def http(
    method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 30
) -> tuple[int, Any]:
    """(código, JSON) de una petición real por loopback; (0, error) si no hay conexión."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, str(exc)


def poll(fn: Any, seconds: float, interval: float = 1.0) -> Any:
    """Llama a fn() hasta que devuelva algo verdadero o se acabe el tiempo (bucle acotado)."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    return last


def generate_until_ok(url: str, seconds: float) -> dict[str, Any]:
    """POST /generate hasta obtener 200 con texto (503 mientras no hay checkpoint)."""
    attempts: list[tuple[int, Any]] = []

    def attempt() -> dict[str, Any] | None:
        code, body = http("POST", f"{url}/generate", {"prompt": "Hola", "max_new_tokens": 30})
        attempts.append((code, body))
        if code == 200 and isinstance(body, dict) and str(body.get("text", "")).strip():
            return body
        return None

    result = poll(attempt, seconds, interval=2.0)
    assert result, f"/generate no respondió 200 con texto en {seconds} s; último: {attempts[-1:]}"
    return result

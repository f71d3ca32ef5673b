"""``python -m bench.class_compose`` (``make bench-class``): una clase contra ``docker compose up``.

Levanta ``docker compose up -d server proxy`` con los valores por defecto (sin .env: solo el
puerto, la carpeta de checkpoints y el número de réplicas), con 1 y con 3 réplicas, y en cada
caso lanza N clientes a la vez en streaming (``bench/class_load.py``): lo que pasa cuando un
profesor proyecta el playground y 30 estudiantes pulsan «Generar» a la vez. Mide, por nivel de
clientes, el tiempo hasta el primer carácter (p50/p95), el tiempo total p95, los caracteres por
segundo de todo el servidor y los errores (429 incluidos). Es una medida, no una prueba.

Necesita un motor de contenedores (docker o podman tras la orden ``docker``) y construye las
imágenes del servidor y de nginx si hace falta (las mismas que ``docker compose up``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.class_load import run_class
from bench.machine import load_average, machine_info
from bench.report import table, write_json
from bench.server_process import free_port
from server.settings import VARIABLES, Settings
from shared.common.argparse_es import SpanishArgumentParser
from shared.common.device import resolve_device
from shared.common.errors import ConfigError
from shared.common.spanish_numbers import fmt_float, fmt_int
from trainer.errors import run_cli

ROOT = Path(__file__).resolve().parents[1]
# Lo que compose interpola: ni el entorno ni un .env de quien mide cambian los valores (solo
# --set). Los nombres de las imágenes (SERVER_IMAGE, PROXY_IMAGE) sí se respetan.
_PINNED = {var.name for var in VARIABLES} | {
    "CHECKPOINTS_MOUNT", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES",
}  # fmt: skip


class Stack:
    """Un proyecto de compose propio (nombre único) con los checkpoints de una carpeta."""

    def __init__(self, checkpoints: Path, settings: dict[str, str] | None = None) -> None:
        self.name = f"llmdc-bench-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in _PINNED}
        self.env.update(settings or {})
        self.env.update(CHECKPOINTS_MOUNT=str(checkpoints), PORT=str(self.port))

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # --env-file .env.example (todo comentado): el .env de quien mide no entra.
        cmd = ["docker", "compose", "--env-file", ".env.example", "-p", self.name, *args]
        proc = subprocess.run(
            cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise ConfigError(f"falló «{' '.join(cmd[2:])}»:\n{proc.stderr[-2000:]}")
        return proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replica_settings(self) -> str:
        """La línea «sirviendo … con N worker(s) × M hilo(s)» de una réplica (lo que midió)."""
        logs = self.compose("logs", "--no-color", "server").stdout
        lines = [line.split("] ", 2)[-1] for line in logs.splitlines() if "sirviendo" in line]
        return lines[-1] if lines else ""


def _ready_replicas(stack: Stack, replicas: int) -> bool:
    """Si todas las réplicas tienen el modelo cargado. nginx reparte por turnos: cada /metrics
    lo responde una réplica, que dice quién es (``llm_replica_info``) y si todos sus workers
    tienen modelo (``llm_model_loaded``); se pregunta hasta haberlas visto a todas."""
    loaded = set()
    for _ in range(4 * replicas):
        try:
            with urllib.request.urlopen(f"{stack.url}/metrics", timeout=5) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError):
            return False
        lines = text.splitlines()
        hosts = [line.split('hostname="', 1)[1].split('"', 1)[0]
                 for line in lines if line.startswith("llm_replica_info{")]  # fmt: skip
        if hosts and "llm_model_loaded 1.0" in lines:
            loaded.add(hosts[0])
        if len(loaded) >= replicas:
            return True
    return False


def measure_replicas(
    checkpoints: Path, replicas: int, levels: list[int], chars: int, settings: dict[str, str]
) -> dict[str, Any]:
    stack = Stack(checkpoints, settings)
    try:
        print(f"docker compose up -d --scale server={replicas} server proxy…", flush=True)
        stack.compose("up", "-d", "--no-build", "--scale", f"server={replicas}", "server", "proxy")
        deadline = time.monotonic() + 600
        while not _ready_replicas(stack, replicas):
            if time.monotonic() > deadline:
                raise ConfigError(f"las {replicas} réplicas no cargaron el modelo en 10 min.")
            time.sleep(2)
        run_class(stack.url, 2 * replicas, 20)  # calentar: cada worker hace su primer paso
        rows = []
        for clients in levels:
            row = run_class(stack.url, clients, chars)
            print(f"  {clients} clientes: {json.dumps(row, ensure_ascii=False)}", flush=True)
            rows.append({"replicas": replicas, **row})
        return {"replicas": replicas, "settings": stack.replica_settings(), "rows": rows}
    finally:
        # Sin check: recoger lo que haya, también si el up falló a medias.
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300, check=False)


def seed_checkpoint(folder: Path, steps: int) -> None:
    """Un GPT del tamaño de ``make train`` (sus valores por defecto), pocos pasos: la velocidad
    no depende de lo entrenado que esté."""
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", "--max-steps", str(steps), "--checkpoint-dir",
         str(folder), "--run-name", "semilla", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ConfigError(f"falló el entrenamiento corto:\n{proc.stderr[-2000:]}")


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m bench.class_compose",
        description="Una clase contra `docker compose up` (valores por defecto): N clientes a la "
        "vez en streaming, con 1 y con 3 réplicas del servidor detrás de nginx.",
    )
    p.add_argument("--replicas", default="1,3", metavar="LISTA", help="réplicas a medir")
    p.add_argument("--clients", default="30,60,120,150,180", metavar="LISTA",
                   help="clientes a la vez, un nivel tras otro")  # fmt: skip
    p.add_argument("--chars", type=int, default=300, help="caracteres por cliente")
    p.add_argument("--steps", type=int, default=30, help="pasos del entrenamiento corto")
    p.add_argument("--set", action="append", default=[], metavar="VARIABLE=VALOR",
                   help="una variable del servidor distinta de su valor por defecto (repetible), "
                   "p. ej. --set MAX_CONCURRENT_GENERATIONS=16")  # fmt: skip
    p.add_argument("--no-build", action="store_true", help="usar las imágenes ya construidas")
    p.add_argument("--out", default="bench-results/class.json", metavar="FICHERO")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    replicas = [int(x) for x in args.replicas.split(",")]
    levels = [int(x) for x in args.clients.split(",")]
    settings = dict(_assignment(item) for item in args.set)
    if not shutil.which("docker"):
        raise ConfigError("no hay orden `docker` (ni podman tras ella): hace falta un motor.")
    results: dict[str, Any] = {"machine": machine_info(resolve_device("cpu"))}
    results["machine"]["load_start"] = load_average()
    defaults = Settings()
    results["defaults"] = {
        "max_concurrent_generations": defaults.max_concurrent_generations,
        "gunicorn_threads": defaults.threads,
    }
    work = Path(tempfile.mkdtemp(prefix="llm-bench-clase-"))
    try:
        folder = work / "gpt"  # compose sirve /checkpoints/$MODEL, gpt por defecto
        print("entrenando un GPT del tamaño de `make train` (pocos pasos)…", flush=True)
        seed_checkpoint(folder, args.steps)
        # El contenedor corre como el usuario 1000: la carpeta tiene que poder leerla.
        for path in (work, folder, *folder.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        if not args.no_build:
            print("docker compose build server proxy…", flush=True)
            Stack(work).compose("build", "server", "proxy", timeout=3600)
        results["settings"] = settings
        results["runs"] = [
            measure_replicas(work, n, levels, args.chars, settings) for n in replicas
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_end"] = load_average()
    rows = [row for run in results["runs"] for row in run["rows"]]
    machine = results["machine"]
    print(f"\n{machine['cpu']}, {machine['cores']} núcleos, {' '.join(machine['cpu_simd'])}")
    print(render(rows))
    write_json(results, Path(args.out))
    print(f"\nJSON guardado en {args.out}")
    return 0


def _assignment(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    known = {var.name for var in VARIABLES}
    if not sep or name not in known:
        raise ConfigError(
            f"--set espera VARIABLE=VALOR con una variable del servidor (docs/servidor.md); "
            f"recibido «{item}»."
        )
    return name, value


def render(rows: list[dict[str, Any]]) -> str:
    return table(
        ["réplicas", "clientes", "errores (429)", "1.er carácter p50", "p95", "total p95",
         "caracteres/s", "por cliente"],
        [[r["replicas"], r["clients"], f"{r['errors']} ({r['status_429']})",
          _secs(r["ttft_p50_s"]), _secs(r["ttft_p95_s"]), _secs(r["total_p95_s"]),
          fmt_int(r["chars_per_s"]), _per_client(r["client_chars_per_s_p50"])] for r in rows],
    )  # fmt: skip


def _per_client(value: float | None) -> str:
    return "—" if value is None else fmt_int(value)


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{fmt_float(value)} s"


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

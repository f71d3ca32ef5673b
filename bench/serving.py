"""Filas del servidor: el servidor real (``python -m server`` → gunicorn) en loopback.

N clientes a la vez, cada uno con un número fijo de peticiones seguidas a POST /generate.
El servidor se arranca con ``bench/server_process.py``, el mismo lanzador que usan las pruebas.
Se mide el rendimiento total (caracteres generados por segundo), la latencia p50/p99 de cada
petición y los errores (cualquier respuesta que no sea 200, incluidos los 429).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.server_process import ServerProcess


def server_settings(max_clients: int) -> dict[str, str]:
    """Un worker por núcleo con un hilo de torch; hilos y cupo para todos los clientes."""
    return {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "WEB_CONCURRENCY": str(os.cpu_count() or 1),
        "TORCH_THREADS": "1",
        "GUNICORN_THREADS": str(max_clients + 2),
        "MAX_CONCURRENT_GENERATIONS": str(max_clients),
        "RELOAD_INTERVAL": "0",
        "LOG_LEVEL": "info",
    }


def post_generate(url: str, body: dict[str, Any], timeout: float) -> tuple[bool, int, float]:
    """(ok, caracteres generados, segundos) de una petición."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        f"{url}/generate", data=data, headers={"Content-Type": "application/json"}
    )
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = json.loads(resp.read())
            ok = resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False, 0, time.perf_counter() - t0
    return ok, int(payload["usage"]["generated_chars"]) if ok else 0, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    """Percentil por rango más cercano (con pocas muestras, p99 es casi el máximo)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def run_load(url: str, clients: int, per_client: int, new_tokens: int) -> dict[str, Any]:
    latencies: list[float] = []
    chars = errors = 0
    lock = threading.Lock()

    def client(i: int) -> None:
        nonlocal chars, errors
        for j in range(per_client):
            body = {"prompt": "", "max_new_tokens": new_tokens, "seed": 1000 * i + j}
            ok, n, seconds = post_generate(url, body, timeout=300)
            with lock:
                latencies.append(seconds)
                chars += n
                errors += 0 if ok else 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": clients * per_client,
        "errors": errors,
        "tokens_per_s": round(chars / wall, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
    }


def measure_serving(
    checkpoint_dir: Path,
    workdir: Path,
    levels: tuple[int, ...],
    per_client: int,
    new_tokens: int,
) -> dict[str, Any]:
    settings = server_settings(max(levels))
    server = ServerProcess(workdir, CHECKPOINT_DIR=str(checkpoint_dir), **settings)
    with server.start(timeout=120).wait_ready():
        # Calentar: cada worker carga el modelo y prepara sus núcleos.
        run_load(server.url(), 2 * int(settings["WEB_CONCURRENCY"]), 1, 20)
        rows = [run_load(server.url(), c, per_client, new_tokens) for c in levels]
    return {"settings": settings, "new_tokens": new_tokens, "rows": rows}

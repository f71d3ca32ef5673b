"""Una clase entera pulsando «Generar» a la vez: N clientes en streaming, todos a la vez.

Cada cliente pide ``POST /generate`` con ``stream: true`` (lo mismo que hace el playground) y
mide, desde que envía la petición, cuándo llega el primer carácter y cuándo termina. Los
clientes esperan en una barrera y salen juntos, como una clase a la que se le dice «ahora».

Un error es cualquier respuesta que no sea 200 (también los 429), un evento ``error`` o un
texto más corto que el pedido. Es una medida, no una prueba: no falla si va lento.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.serving import percentile

# Un prompt corto en español: todos sus caracteres están en el vocabulario de
# data/tiny_spanish.txt (y una BPE los parte en trozos conocidos).
PROMPT = "En un lugar de la Mancha"
# Para reconocer estas peticiones en el registro de accesos de gunicorn.
USER_AGENT = "llm-desde-cero-clase"


@dataclass
class ClientResult:
    status: int = 0  # 0: sin respuesta (conexión rechazada o cortada)
    first_s: float | None = None  # segundos hasta el primer carácter
    total_s: float = 0.0
    chars: int = 0  # eventos de texto recibidos: caracteres (con BPE, tokens)
    error: str = ""


def stream_once(url: str, chars: int, seed: int, timeout: float, api_key: str = "") -> ClientResult:
    """Una generación en streaming; nunca lanza: lo que falle queda en ``error``."""
    parts = urlsplit(url)
    body = json.dumps(
        {"prompt": PROMPT, "max_new_tokens": chars, "seed": seed, "stream": True}
    ).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    result = ClientResult()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/generate", body, headers)
        resp = conn.getresponse()
        result.status = resp.status
        if resp.status != 200:
            result.error = f"HTTP {resp.status}"
            resp.read()
            return result
        event = "message"
        while True:
            line = resp.readline()
            if not line:
                break
            text = line.decode().rstrip("\r\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:"):
                if event == "error":
                    result.error = "evento error"
                elif event == "message":
                    if result.first_s is None:
                        result.first_s = time.perf_counter() - t0
                    result.chars += 1
            elif text == "":
                event = "message"
    except (OSError, http.client.HTTPException) as exc:
        result.error = type(exc).__name__
    finally:
        result.total_s = time.perf_counter() - t0
        conn.close()
    if not result.error and result.chars < chars:
        result.error = f"solo {result.chars} de {chars} caracteres"
    return result


def run_class(
    url: str, clients: int, chars: int, timeout: float = 300, api_key: str = ""
) -> dict[str, Any]:
    """Los ``clients`` a la vez; devuelve la fila (tiempos en segundos)."""
    results: list[ClientResult] = [ClientResult() for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        barrier.wait()
        results[i] = stream_once(url, chars, seed=1000 + i, timeout=timeout, api_key=api_key)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = [r for r in results if not r.error]
    firsts = [r.first_s for r in ok if r.first_s is not None]
    totals = [r.total_s for r in ok]
    return {
        "clients": clients,
        "chars": chars,
        "errors": clients - len(ok),
        "status_429": sum(r.status == 429 for r in results),
        "error_kinds": sorted({r.error for r in results if r.error}),
        "ttft_p50_s": round(statistics.median(firsts), 3) if firsts else None,
        "ttft_p95_s": round(percentile(firsts, 95), 3) if firsts else None,
        "total_p95_s": round(percentile(totals, 95), 3) if totals else None,
        "chars_per_s": round(sum(r.chars for r in ok) / wall, 1),
        # Lo que ve cada estudiante: sus caracteres entre lo que tardó su respuesta entera.
        "client_chars_per_s_p50": (
            round(statistics.median(r.chars / r.total_s for r in ok), 1) if ok else None
        ),
        "wall_s": round(wall, 2),
    }

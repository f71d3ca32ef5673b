"""Métricas Prometheus de GET /metrics.

Con varios workers de gunicorn cada proceso cuenta lo suyo; prometheus_client los suma si
PROMETHEUS_MULTIPROC_DIR apunta a un directorio escribible (gunicorn.conf.py crea uno temporal
antes de arrancar los workers). Así /metrics da el total del servidor, lo atienda quien lo
atienda.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from flask import Flask, Response, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter(
    "llm_http_requests_total", "Peticiones HTTP por ruta, método y estado.",
    ["route", "method", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "llm_http_request_duration_seconds",
    "Duración de las peticiones HTTP (hasta enviar el último byte, también en streaming).",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GENERATED_CHARS = Counter("llm_generated_chars_total", "Caracteres generados en total.")
GENERATED_TOKENS = Counter(
    "llm_generated_tokens_total",
    "Tokens generados en total (con el tokenizador de caracteres, uno por carácter).",
)
PROMPT_TOKENS = Counter(
    "llm_prompt_tokens_total",
    "Tokens de prompt leídos por el modelo (una vez por cada generación: n=2 lo lee dos veces).",
)
TIME_TO_FIRST_TOKEN = Histogram(
    "llm_time_to_first_token_seconds",
    "Desde que llega la petición hasta que el modelo genera su primer token (validación, "
    "espera en el lote y la primera pasada del prompt incluidas).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Qué réplica responde (detrás de nginx, cada raspado puede caer en una distinta): el nombre de
# la máquina o contenedor y el pid del proceso maestro de gunicorn. Vale siempre 1. (La etiqueta
# no puede llamarse "pid": prometheus_client la usa, y la quita, al sumar los workers.)
REPLICA = Gauge(
    "llm_replica_info",
    "Identidad de la réplica que responde: hostname y pid del proceso maestro de gunicorn.",
    ["hostname", "master_pid"],
    multiprocess_mode="livemax",
)
REPLICA_PID_ENV = "LLM_REPLICA_PID"  # lo fija gunicorn.conf.py en el maestro, antes del fork
IN_PROGRESS = Gauge(
    "llm_generations_in_progress", "Generaciones en curso.", multiprocess_mode="livesum"
)
MODEL_STEP = Gauge(
    "llm_model_step",
    "Paso de entrenamiento del checkpoint cargado (el último que cargó algún worker).",
    multiprocess_mode="livemostrecent",
)
MODEL_LOADED = Gauge(
    "llm_model_loaded",
    "1 si todos los workers tienen un modelo cargado.",
    multiprocess_mode="livemin",
)
BATCH_ROWS = Histogram(
    "llm_batch_rows",
    "Generaciones que avanzan juntas en cada paso de la generación por lotes (BATCHING=1).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
BATCH_ACTIVE = Gauge(
    "llm_batch_rows_active",
    "Generaciones dentro de los lotes ahora mismo (las abandonadas salen en el paso siguiente).",
    multiprocess_mode="livesum",
)
RELOADS = Counter(
    "llm_checkpoint_loads_total", "Cargas de checkpoint por resultado (ok o error).", ["result"]
)


def model_loaded(step: int) -> None:
    """Un worker cargó el checkpoint del paso ``step``."""
    MODEL_STEP.set(step)
    MODEL_LOADED.set(1)
    RELOADS.labels(result="ok").inc()


def model_failed(_path: object) -> None:
    RELOADS.labels(result="error").inc()


# Los métodos de HTTP conocidos; cualquier otro token cuenta como "other" (si no, cada método
# inventado por un cliente sería una serie nueva, y /metrics crecería sin límite).
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
)


def _method_label() -> str:
    return request.method if request.method in KNOWN_METHODS else "other"


def _route_label(status: int) -> str:
    # La regla (p. ej. "/generate"), nunca la URL cruda: así no crece sin límite el número de
    # series con rutas inventadas.
    rule = request.url_rule
    if rule is not None:
        return rule.rule
    # 405: la ruta existe (solo falla el método), así que su camino es una serie acotada.
    return request.path if status == 405 else "<desconocida>"


def install(app: Flask) -> None:
    """Cuenta cada petición al terminar de enviarse (importa en las respuestas en streaming)."""
    MODEL_LOADED.set(0)
    pid = os.environ.get(REPLICA_PID_ENV) or str(os.getpid())
    REPLICA.labels(hostname=socket.gethostname(), master_pid=pid).set(1)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = _route_label(response.status_code)
        method, status = _method_label(), str(response.status_code)
        started = g.get("started", time.perf_counter())

        def _done() -> None:
            REQUESTS.labels(route=route, method=method, status=status).inc()
            LATENCY.labels(route=route).observe(time.perf_counter() - started)

        response.call_on_close(_done)
        return response


def render() -> Response:
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


def count_token(text: str) -> None:
    """Un token generado, con ``text`` sus caracteres."""
    GENERATED_TOKENS.inc()
    GENERATED_CHARS.inc(len(text))


def count_prompt_tokens(n: int) -> None:
    PROMPT_TOKENS.inc(n)


def request_started() -> float:
    """Cuándo llegó la petición en curso (``time.perf_counter``); fuera de una, ahora."""
    if has_request_context():
        return float(g.get("started", time.perf_counter()))
    return time.perf_counter()


def first_token(started: float) -> None:
    TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - started)


def batch_step(rows: int) -> None:
    BATCH_ROWS.observe(rows)


def batch_rows_active(rows: int) -> None:
    BATCH_ACTIVE.set(rows)


def track_generation() -> Callable[[], None]:
    """Marca una generación en curso; devuelve la función que la da por terminada."""
    IN_PROGRESS.inc()
    return IN_PROGRESS.dec

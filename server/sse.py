"""Server-Sent Events: cada evento es ``event:`` (opcional) + ``data:`` + línea en blanco."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # que un proxy (nginx) no acumule el streaming
}


def event(data: Any, name: str | None = None) -> str:
    # El JSON va en una sola línea: un salto de línea dentro de data partiría el evento.
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n"


def sse_response(events: Iterable[str], on_close: Callable[[], None]) -> Response:
    """Respuesta en streaming. ``on_close`` se ejecuta siempre al acabar, aunque el cliente
    se vaya antes de tiempo (gunicorn cierra la respuesta en todos los casos)."""
    resp = Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    resp.call_on_close(on_close)
    return resp

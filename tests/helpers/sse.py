"""El único lector de ``text/event-stream`` de las pruebas: eventos ``(nombre, datos)``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import requests


def iter_sse(lines: Iterable[str | bytes]) -> Iterator[tuple[str, Any]]:
    """Cada evento en cuanto llega su línea en blanco. Los datos van en JSON, salvo ``[DONE]``
    (el final de la API de OpenAI), que se entrega tal cual."""
    name, data = "message", []
    for raw in lines:
        line = raw.decode() if isinstance(raw, bytes) else raw
        if line == "":
            if data:
                text = "\n".join(data)
                yield name, text if text == "[DONE]" else json.loads(text)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


def read_sse(resp: requests.Response) -> list[tuple[str, Any]]:
    """Lee una respuesta text/event-stream entera: [(evento, datos), ...]."""
    assert resp.headers["Content-Type"].startswith("text/event-stream"), resp.headers
    return list(iter_sse(resp.iter_lines(decode_unicode=True)))

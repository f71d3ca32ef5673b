"""Secuencias de parada (``stop``): el texto generado termina justo antes de la primera.

La generación avanza trozo a trozo (un carácter, o un token con BPE) y en streaming cada trozo
sale en cuanto se genera. Con paradas, un trozo que podría ser el comienzo de una parada se
retiene hasta saber si lo es: con ``stop: "\\n\\n"`` un salto de línea espera al siguiente
carácter; si es otro salto, la respuesta acaba ahí y ninguno de los dos llega al cliente. Lo que
ya no puede formar parte de ninguna parada sale sin esperar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # solo para los tipos: los topes de aquí los lee schemas.py sin PyTorch
    from shared.generation import GeneratedChar

MAX_STOPS = 4  # como la API de OpenAI
MAX_STOP_CHARS = 64


def _held_suffix(text: str, stops: list[str]) -> int:
    """Cuántos caracteres del final de ``text`` podrían ser el comienzo de alguna parada."""
    best = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:size]):
                best = size
                break
    return best


class StopFilter:
    """Deja pasar los trozos generados hasta la primera parada (sin incluirla).

    Uso: ``for piece in stop_filter.run(chars)``; al acabar, ``finish_reason`` es ``"stop"`` si
    apareció una parada y ``"length"`` si se agotaron los caracteres, y ``produced`` cuenta
    todos los trozos que generó el modelo (también los de la parada, que no se entregan).
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.finish_reason = "length"
        self.produced = 0
        self._pending: list[GeneratedChar] = []

    def run(self, chars: Iterator[GeneratedChar]) -> Iterator[GeneratedChar]:
        try:
            for char in chars:
                self.produced += 1
                yield from self._push(char)
                if self.finish_reason == "stop":
                    return  # al cerrar el flujo, su fila sale del lote enseguida
            yield from self._pending
            self._pending = []
        finally:
            close = getattr(chars, "close", None)
            if close is not None:
                close()

    def _push(self, char: GeneratedChar) -> list[GeneratedChar]:
        if not self.stops:
            return [char]
        self._pending.append(char)
        text = "".join(p.text for p in self._pending)
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if found:
            self.finish_reason = "stop"
            ready = _cut(self._pending, min(found))
            self._pending = []
            return ready
        # Sale todo trozo que termina antes del sufijo que aún podría empezar una parada.
        free = len(text) - _held_suffix(text, self.stops)
        ready, pos = [], 0
        while self._pending and pos + len(self._pending[0].text) <= free:
            pos += len(self._pending[0].text)
            ready.append(self._pending.pop(0))
        return ready


def _cut(pieces: list[GeneratedChar], size: int) -> list[GeneratedChar]:
    """Los trozos que forman los primeros ``size`` caracteres (el último, recortado si hace
    falta: con BPE una parada puede empezar a mitad de un token)."""
    out, pos = [], 0
    for piece in pieces:
        if pos >= size:
            break
        if pos + len(piece.text) > size:
            piece = dataclasses.replace(piece, text=piece.text[: size - pos])
        out.append(piece)
        pos += len(piece.text)
    return out


def stop_list(stop: str | list[str] | None) -> list[str]:
    """``stop`` de la petición (texto, lista o nada) como lista."""
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)

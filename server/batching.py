"""Generación por lotes dentro de un worker: un hilo genera para todas las peticiones a la vez.

Cada petición entra en una cola; el hilo del motor (uno por worker, arrancado con la primera
petición, ya después del fork) la recoge al principio del paso siguiente y la añade al lote de
su modelo. En cada paso hace UNA pasada del modelo para todas las filas
(``shared.engine.batch``) y deja los caracteres nuevos de cada una en su buzón; el hilo de
la petición los lee de ahí y los entrega (JSON o SSE). Una petición terminada o abandonada (el
cliente cerró la conexión) sale del lote en el paso siguiente y libera su hueco.

Solo comparten lote las peticiones con el mismo objeto ``LoadedModel``: tras una recarga en
caliente, las que ya estaban en curso terminan con el modelo viejo en su propio lote.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Generator

from server import metrics
from server.model_store import LoadedModel
from shared.engine.batch import Engine, Row
from shared.generation import GeneratedChar
from shared.sampling import SamplingParams

log = logging.getLogger("server")

_END = object()  # marca de fin en el buzón de una petición
# Los caracteres se entregan en tandas, como mucho cada _FLUSH_S segundos (el primero, al
# momento): 50 entregas por segundo ya se ven fluidas en el streaming, y así el hilo de cada
# petición no se despierta (ni pide el GIL) en cada paso del lote.
_FLUSH_S = 0.02
# Cada cuánto comprueba una petición que el motor sigue vivo mientras espera su carácter.
_WAIT_CHECK_S = 5.0


class _Request:
    def __init__(self, loaded: LoadedModel, prompt: str, params: SamplingParams) -> None:
        self.loaded = loaded
        self.prompt = prompt
        self.params = params
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.pending: list[GeneratedChar] = []  # generados y aún no entregados
        self.flushed_at = 0.0  # 0: el primer carácter sale en cuanto se genera
        self.cancelled = False  # la escribe el hilo de la petición; el motor solo la lee


class _Batch:
    """El lote de un modelo y, para cada fila, la petición a la que pertenece."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.generation = Engine(loaded.model, loaded.tokenizer, loaded.device)
        self.owners: dict[Row, _Request] = {}

    def drop(self, row: Row) -> None:
        self.generation.remove(row)
        del self.owners[row]


class BatchingEngine:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._incoming: list[_Request] = []
        # Clave: id() del LoadedModel. El lote guarda una referencia al objeto, así que el id no
        # se reutiliza mientras el lote existe; se borra en cuanto se queda sin filas.
        self._batches: dict[int, tuple[LoadedModel, _Batch]] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._rows = 0  # filas en los lotes tras el último paso (para la métrica)
        self._stopping = False

    def stream(
        self, loaded: LoadedModel, prompt: str, params: SamplingParams
    ) -> Generator[GeneratedChar, None, None]:
        """Los caracteres de una petición, según el motor los va generando.

        ``params`` ya es válido (``SamplingParams`` se comprueba al crearse); un prompt que el
        modelo no puede codificar falla al entrar en el lote y el error llega aquí."""
        if params.max_new_tokens == 0:
            return
        request = _Request(loaded, prompt, params)
        self._submit(request)
        try:
            while True:
                try:
                    item = request.inbox.get(timeout=_WAIT_CHECK_S)
                except queue.Empty:
                    if not self._alive():
                        raise RuntimeError("el hilo de generación por lotes ha muerto.") from None
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, list)
                yield from item
        finally:
            # Terminada, con error o abandonada (el cliente se fue y se cerró el generador):
            # el motor la saca del lote en su próximo paso.
            request.cancelled = True

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def _submit(self, request: _Request) -> None:
        with self._cond:
            if not self._alive():
                # Arranque perezoso: el hilo nace en el proceso worker (tras el fork), con la
                # primera petición que lo necesita.
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="generacion-por-lotes")
                self._thread.daemon = True
                self._thread.start()
                atexit.register(self._stop)
            self._incoming.append(request)
            self._cond.notify()

    def _stop(self) -> None:
        """Al salir el worker: que el hilo no se quede a medias dentro de PyTorch.

        Un hilo daemon cortado en plena operación de PyTorch aborta el proceso al terminar
        ("terminate called without an active exception"); se le pide parar y se le espera.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._incoming and not self._batches and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    self._fail_all([*self._incoming], "el servidor se está apagando.")
                    return
                arrived, self._incoming = self._incoming, []
            try:
                for request in arrived:
                    self._admit(request)
                for key, (_loaded, batch) in list(self._batches.items()):
                    self._step(batch)
                    if not batch.owners:
                        del self._batches[key]
                self._count_rows()
            except Exception:  # el hilo no debe morir: se avisa a todas las peticiones en curso
                log.exception("fallo inesperado en el motor de generación por lotes")
                self._fail_all(arrived, "fallo en la generación por lotes.")
                self._count_rows()

    def _fail_all(self, waiting: list[_Request], message: str) -> None:
        """Termina con un error todas las peticiones en los lotes y las de ``waiting``."""
        for _loaded, batch in self._batches.values():
            waiting.extend(batch.owners.values())
        for request in dict.fromkeys(waiting):  # sin repetir las que ya estaban en un lote
            request.inbox.put(RuntimeError(message))
        self._batches.clear()

    def _count_rows(self) -> None:
        rows = sum(len(batch.owners) for _loaded, batch in self._batches.values())
        if rows != self._rows:
            self._rows = rows
            metrics.batch_rows_active(rows)

    def _admit(self, request: _Request) -> None:
        if request.cancelled:
            return
        key = id(request.loaded)
        try:
            if key not in self._batches:
                self._batches[key] = (request.loaded, _Batch(request.loaded))
            batch = self._batches[key][1]
            row = batch.generation.add(request.prompt, request.params)
        except Exception as exc:  # p. ej. un prompt que no se puede codificar
            request.inbox.put(exc)
            return
        batch.owners[row] = request

    def _step(self, batch: _Batch) -> None:
        for row, request in list(batch.owners.items()):
            if request.cancelled:
                batch.drop(row)
        if not batch.owners:
            return
        metrics.batch_step(len(batch.owners))
        try:
            produced = batch.generation.step()
        except Exception as exc:
            # Un fallo del modelo no debe matar el hilo: sus peticiones reciben el error (500)
            # y el lote se vacía.
            log.exception("fallo en un paso de la generación por lotes")
            for row, request in list(batch.owners.items()):
                request.inbox.put(RuntimeError(f"fallo en la generación por lotes: {exc}"))
                batch.drop(row)
            return
        now = time.monotonic()
        for row, char in produced:
            request = batch.owners[row]
            request.pending.append(char)
            if row.done or now - request.flushed_at >= _FLUSH_S:
                request.inbox.put(request.pending)
                request.pending, request.flushed_at = [], now
            if row.done:
                request.inbox.put(_END)
                batch.drop(row)

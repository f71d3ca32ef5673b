"""El único sitio en el que el servidor convierte (modelo, prompt, ajustes) en caracteres.

Las rutas no llaman al muestreador directamente: piden una plaza (``reserve``) y luego un flujo
de caracteres (``stream``). Así, cambiar la estrategia de generación (por ejemplo, agrupar en un
lote las peticiones simultáneas de un worker) solo toca este módulo.

Con BATCHING=1 (por defecto) las generaciones simultáneas de un worker avanzan juntas, una
pasada del modelo por paso para todas (``server/batching.py``); cada una da el mismo texto que
sola. Con BATCHING=0 cada petición genera en su propio hilo, una pasada por carácter.

Las plazas limitan cuántas generaciones corren a la vez en este worker. Sin plaza libre se
responde 429 al momento, en vez de encolar: una cola escondería la sobrecarga y el cliente
esperaría sin saber por qué.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator

from server import metrics
from server.batching import BatchingEngine
from server.errors import APIError
from server.model_store import LoadedModel
from shared.engine.batch import stream_generate
from shared.generation import GeneratedChar
from shared.sampling import SamplingParams


class Reservation:
    """Una plaza de generación. ``release`` puede llamarse varias veces sin efecto extra."""

    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore = semaphore
        self._released = False
        self._lock = threading.Lock()
        self._untrack = metrics.track_generation()
        self.started = metrics.request_started()  # para el tiempo hasta el primer token
        self.first_token_seen = False

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._untrack()
        self._semaphore.release()

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class GenerationService:
    def __init__(self, max_concurrent: int, batching: bool = True) -> None:
        self.max_concurrent = max_concurrent
        self._semaphore = threading.BoundedSemaphore(max_concurrent)
        self._engine = BatchingEngine() if batching else None

    def reserve(self) -> Reservation:
        """Una plaza libre, o un 429 inmediato si este worker ya está al máximo."""
        if not self._semaphore.acquire(blocking=False):
            raise APIError(
                429,
                f"el servidor está ocupado: ya hay {self.max_concurrent} generación(es) en "
                "curso en este proceso. Vuelve a intentarlo en unos segundos.",
                headers={"Retry-After": "1"},
            )
        return Reservation(self._semaphore)

    def stream(
        self,
        loaded: LoadedModel,
        prompt: str,
        params: SamplingParams,
        reservation: Reservation | None = None,
    ) -> Iterator[GeneratedChar]:
        """Los caracteres generados, uno a uno, con el muestreador común del proyecto.

        ``reservation``: la plaza de la petición (para medir su tiempo hasta el primer token)."""
        chars: Iterator[GeneratedChar]
        if self._engine is not None:
            chars = self._engine.stream(loaded, prompt, params)
        else:
            chars = stream_generate(loaded.model, loaded.tokenizer, prompt, params, loaded.device)
        metrics.count_prompt_tokens(len(loaded.tokenizer.encode(prompt)))
        started = reservation.started if reservation is not None else time.perf_counter()
        # Se mide el primer token de la petición (con n > 1, el de su primera muestra).
        measured = reservation is not None and reservation.first_token_seen
        try:
            for char in chars:
                if not measured:
                    measured = True
                    metrics.first_token(started)
                    if reservation is not None:
                        reservation.first_token_seen = True
                metrics.count_token(char.text)
                yield char
        finally:
            # Si el cliente se va a medias, cerrar el flujo saca su fila del lote enseguida.
            if isinstance(chars, Generator):
                chars.close()

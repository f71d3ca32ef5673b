"""El modelo que sirve cada worker, y su recarga en caliente.

Cada worker carga el último checkpoint de CHECKPOINT_DIR tras el fork (PyTorch y fork no se
llevan bien: nada de modelos cargados antes). Un hilo vigila el directorio cada
RELOAD_INTERVAL segundos; si aparece un checkpoint más nuevo lo carga en un objeto nuevo, lo
valida y cambia la referencia bajo un cerrojo. Las peticiones en curso ya tienen su referencia
al modelo viejo y terminan con él; las nuevas usan el nuevo.

Un checkpoint que falla al cargarse (corrupto, truncado, con código malicioso...) se anota en
el registro y se recuerda, para no reintentarlo en cada vuelta; el modelo anterior sigue
sirviendo. Nunca se escribe nada en CHECKPOINT_DIR.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from shared.checkpoint import Checkpoint, list_checkpoints, load_model
from shared.errors import LLMError
from shared.models import LanguageModel, count_params
from shared.tokenizer import CharTokenizer

log = logging.getLogger("server")

# Identidad de un fichero: si cambia cualquiera de estos datos, es otro checkpoint.
FileKey = tuple[str, int, int, int]  # (nombre, mtime_ns, tamaño, inodo)


@dataclass(frozen=True)
class LoadedModel:
    """Un modelo listo para generar y todo lo que se cuenta de él. No cambia nunca."""

    model: LanguageModel
    tokenizer: CharTokenizer
    checkpoint: Checkpoint
    path: Path
    key: FileKey
    device: torch.device
    loaded_at: str
    parameters: int

    @property
    def name(self) -> str:
        return self.checkpoint.run_name or self.path.stem

    @property
    def block_size(self) -> int:
        return self.model.block_size


def _file_key(path: Path) -> FileKey | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_mtime_ns, st.st_size, st.st_ino)


def _order(key: FileKey) -> tuple[int, str]:
    # La misma regla que shared.checkpoint.latest_checkpoint: fecha y, si empatan, nombre.
    return (key[1], key[0])


def load_and_validate(path: Path, key: FileKey, device: torch.device) -> LoadedModel:
    """Carga el checkpoint en un objeto nuevo y comprueba que genera antes de aceptarlo."""
    model, tokenizer, ckpt = load_model(path, device)  # carga estricta: formas y vocabulario
    with torch.inference_mode():
        # Una pasada con un solo carácter: descarta pesos con NaN o un modelo que no encaja.
        logits, _ = model(torch.zeros((1, 1), dtype=torch.long, device=device))
    if logits.shape[-1] != tokenizer.vocab_size or not torch.isfinite(logits).all():
        raise LLMError(f"'{path}' produce salidas inválidas (NaN o tamaño incorrecto).")
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        checkpoint=ckpt,
        path=path,
        key=key,
        device=device,
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        parameters=count_params(model),
    )


class ModelStore:
    """Guarda el modelo actual de este worker y lo cambia por uno más nuevo cuando aparece."""

    def __init__(
        self,
        directory: Path,
        device: torch.device,
        reload_interval: float,
        on_loaded: Callable[[LoadedModel], None] | None = None,
        on_failed: Callable[[Path], None] | None = None,
    ) -> None:
        self.directory = directory
        self.device = device
        self.reload_interval = reload_interval
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()  # protege _current y _failed
        self._check_lock = threading.Lock()  # una sola comprobación a la vez
        self._failed: set[FileKey] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_empty = False
        self._on_loaded = on_loaded
        self._on_failed = on_failed

    def current(self) -> LoadedModel | None:
        with self._lock:
            return self._current

    def check(self) -> bool:
        """Busca un checkpoint más nuevo que el actual y lo carga. True si cambió el modelo.

        Recorre los candidatos del más nuevo al más viejo y se queda con el primero que carga:
        así un checkpoint corrupto reciente no impide servir uno bueno algo más antiguo.
        """
        with self._check_lock:
            current = self.current()
            floor = _order(current.key) if current else None
            for path in reversed(list_checkpoints(self.directory)):
                key = _file_key(path)
                if key is None:
                    continue
                if floor is not None and _order(key) <= floor:
                    break  # de aquí hacia atrás, nada más nuevo que lo que ya servimos
                with self._lock:
                    if key in self._failed:
                        continue
                if self._try_load(path, key, current):
                    return True
            if current is None and not self._warned_empty:
                self._warned_empty = True
                log.warning(
                    "todavía no hay ningún checkpoint válido en '%s'; el servidor responde a "
                    "/health y espera a que el entrenador escriba uno.",
                    self.directory,
                )
            return False

    def _try_load(self, path: Path, key: FileKey, previous: LoadedModel | None) -> bool:
        try:
            loaded = load_and_validate(path, key, self.device)
        except Exception as exc:  # sea cual sea el fallo, el modelo anterior sigue sirviendo
            with self._lock:
                self._failed.add(key)
            if self._on_failed:
                self._on_failed(path)
            keeps = (
                f"Se sigue sirviendo '{previous.path.name}' (paso {previous.checkpoint.step})"
                if previous
                else "Todavía no hay modelo que servir"
            )
            # Los errores del proyecto ya nombran el fichero; los demás, se lo añadimos.
            reason = str(exc) if str(path) in str(exc) else f"'{path}': {exc}"
            log.error("checkpoint descartado: %s %s.", reason.rstrip(".") + ".", keeps)
            return False
        with self._lock:
            self._current = loaded
        if self._on_loaded:
            self._on_loaded(loaded)
        ckpt = loaded.checkpoint
        verb = "recargado" if previous else "cargado"
        log.info(
            "modelo %s: '%s' (%s, paso %d, val_loss %s, %d parámetros)",
            verb, path.name, ckpt.model_type, ckpt.step, ckpt.val_loss, loaded.parameters,
        )  # fmt: skip
        return True

    def start_watching(self) -> None:
        """Arranca el hilo que vigila el directorio (si RELOAD_INTERVAL > 0)."""
        if self.reload_interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="vigilante-checkpoints")
        self._thread.daemon = True  # no retiene la salida del worker
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.check()
            except Exception:  # el vigilante no debe morir nunca por un fallo puntual
                log.exception("fallo inesperado al buscar checkpoints nuevos")

    def stop(self) -> None:
        self._stop.set()

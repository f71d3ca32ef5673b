"""El modelo que sirve cada worker, y su recarga en caliente.

Cada worker carga el último checkpoint utilizable de CHECKPOINT_DIR tras el fork (PyTorch y
fork no se llevan bien: nada de modelos cargados antes), con la misma regla que la CLI
(``shared/checkpoints/files.py``: orden de llegada al directorio, y se salta lo que no valida). Un
hilo vigila el directorio cada RELOAD_INTERVAL segundos; si el último utilizable ya no es el que
sirve (llegó otro, o el servido desapareció), lo carga en un objeto nuevo, lo valida y cambia la
referencia bajo un cerrojo. Las peticiones en curso ya tienen su referencia al modelo viejo y
terminan con él; las nuevas usan el nuevo.

Un checkpoint que falla al cargarse (corrupto, truncado, con metadatos inválidos, demasiado
grande para la memoria, con código malicioso...) se anota en el registro y en /info, y se
recuerda mientras siga en el directorio, para no reintentarlo en cada vuelta; el modelo anterior
sigue sirviendo. Nunca se escribe nada en CHECKPOINT_DIR.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from shared.checkpoints.files import Checkpoint, list_checkpoints, load_model
from shared.checkpoints.models import LanguageModel, Tokenizer
from shared.checkpoints.shapes import count_parameters
from shared.common.errors import LLMError
from shared.common.spanish_numbers import fmt_float, fmt_int

log = logging.getLogger("server")

# Identidad de un fichero: si cambia cualquiera de estos datos, es otro checkpoint.
FileKey = tuple[str, int, int, int, int]  # (nombre, ctime_ns, mtime_ns, tamaño, inodo)
MAX_REJECTIONS_SHOWN = 20


@dataclass(frozen=True)
class Rejection:
    """Un checkpoint del directorio que este worker descartó, y por qué."""

    file: str
    reason: str
    rejected_at: str


@dataclass(frozen=True)
class LoadedModel:
    """Un modelo listo para generar y todo lo que se cuenta de él. No cambia nunca."""

    model: LanguageModel
    tokenizer: Tokenizer
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


def file_key(path: Path) -> FileKey | None:
    """La identidad de un fichero en disco (None si ya no está): si cambia, es otro checkpoint."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_ctime_ns, st.st_mtime_ns, st.st_size, st.st_ino)


def _printable(text: str) -> str:
    # Un nombre de fichero con bytes que no son UTF-8 llega con sustitutos: JSON no los admite.
    return text.encode("utf-8", "replace").decode("utf-8")


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
        parameters=count_parameters(model.config),
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
        self._failed: dict[FileKey, Rejection] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_empty = False
        self._warned_gone: FileKey | None = None
        self._on_loaded = on_loaded
        self._on_failed = on_failed

    def current(self) -> LoadedModel | None:
        with self._lock:
            return self._current

    def rejections(self) -> list[Rejection]:
        """Los checkpoints descartados que siguen en el directorio, el más reciente primero."""
        with self._lock:
            found = list(self._failed.values())
        return sorted(found, key=lambda r: r.rejected_at, reverse=True)[:MAX_REJECTIONS_SHOWN]

    def _candidates(self) -> list[tuple[Path, FileKey]]:
        """Candidatos de la regla de shared.checkpoints.files, del más reciente al más antiguo."""
        found = []
        for path in reversed(list_checkpoints(self.directory)):
            key = file_key(path)
            if key is not None:
                found.append((path, key))
        return found

    def check(self) -> bool:
        """Sirve el último checkpoint utilizable del directorio. True si cambió el modelo.

        Recorre los candidatos del más reciente al más antiguo y se queda con el primero que
        carga: un checkpoint reciente que no valida no impide servir uno bueno algo anterior, y
        si el fichero servido desaparece se pasa al siguiente utilizable.
        """
        with self._check_lock:
            current = self.current()
            candidates = self._candidates()
            present = {key for _, key in candidates}
            with self._lock:  # se olvida lo que ya no está (y la lista no crece sin fin)
                self._failed = {k: r for k, r in self._failed.items() if k in present}
            for path, key in candidates:
                if current is not None and key == current.key:
                    return False  # ya servimos el último utilizable
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
            elif current is not None and self._warned_gone != current.key:
                self._warned_gone = current.key
                log.warning(
                    "'%s' ya no está en '%s' y no hay otro checkpoint utilizable: se sigue "
                    "sirviendo el que está cargado (paso %d).",
                    current.path.name, self.directory, current.checkpoint.step,
                )  # fmt: skip
            return False

    def _try_load(self, path: Path, key: FileKey, previous: LoadedModel | None) -> bool:
        try:
            loaded = load_and_validate(path, key, self.device)
        except Exception as exc:  # sea cual sea el fallo, el modelo anterior sigue sirviendo
            # Los errores del proyecto ya nombran el fichero; los demás, se lo añadimos.
            reason = str(exc) if str(path) in str(exc) else f"'{path}': {exc}"
            reason = _printable(reason.rstrip(".") + ".")
            rejection = Rejection(
                file=_printable(path.name),
                reason=reason,
                rejected_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            )
            with self._lock:
                self._failed[key] = rejection
            if self._on_failed:
                self._on_failed(path)
            keeps = (
                f"Se sigue sirviendo '{previous.path.name}' (paso {previous.checkpoint.step})"
                if previous
                else "Todavía no hay modelo que servir"
            )
            log.error("checkpoint descartado: %s %s.", reason, keeps)
            return False
        with self._lock:
            self._current = loaded
        if self._on_loaded:
            self._on_loaded(loaded)
        ckpt = loaded.checkpoint
        verb = "recargado" if previous else "cargado"
        log.info(
            "modelo %s: '%s' (%s, paso %d, val_loss %s, %s parámetros)",
            verb, path.name, ckpt.model_type, ckpt.step,
            "—" if ckpt.val_loss is None else fmt_float(ckpt.val_loss, 4),
            fmt_int(loaded.parameters),
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

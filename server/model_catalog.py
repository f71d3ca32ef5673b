"""Todos los checkpoints que se pueden elegir con ``"model"``: los de CHECKPOINT_DIR y los de
las carpetas hermanas de los otros modelos.

Un modelo por carpeta (``make train`` escribe en ``checkpoints/gpt``, ``make train-bigram`` en
``checkpoints/bigram``): si CHECKPOINT_DIR se llama como un tipo de modelo, también se listan
las carpetas de los demás tipos que hay a su lado, para comparar el bigrama con el GPT sin
moverlos de sitio. El identificador de un modelo de CHECKPOINT_DIR es el nombre de su fichero
sin ``.pt``; el de una carpeta hermana lleva delante el nombre de la carpeta y dos puntos
(``bigram:bigram-20260101-120000``). Un nombre pedido por un cliente solo se compara con esta
lista: nunca se usa como ruta, así que ``../algo``, ``bigram/algo`` o ``/etc/passwd``
simplemente no están y dan 404.

Sin ``"model"`` se usa el que sirve ``ModelStore`` (el último utilizable de CHECKPOINT_DIR,
como siempre). Los demás se cargan bajo demanda (de uno en uno por worker, cada carga con una
plaza de generación; si no la hay, 429 al momento) y se guardan en una caché LRU de
``MAX_EXTRA_MODELS`` entradas por worker: al cargar uno más, sale el que lleva más tiempo sin
usarse. Los metadatos de la lista (tipo, paso, pérdida) se leen una vez por fichero y se
recuerdan mientras el fichero no cambie; un fichero que no se puede leer o que falla al
cargarse se anota en el registro y deja de listarse mientras siga igual, en cualquier carpeta.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from server.errors import APIError
from server.model_store import FileKey, LoadedModel, ModelStore, file_key, load_and_validate
from shared.checkpoints.files import METRICS_SUFFIX, list_checkpoints, load_checkpoint_file
from shared.checkpoints.models import tokenizer_kind
from shared.common.errors import LLMError
from shared.config import MODEL_TYPES

log = logging.getLogger("server")

SIBLING_SEPARATOR = ":"  # "bigram:<fichero>" (si choca con un fichero de CHECKPOINT_DIR, gana ese)


def model_folders(directory: Path) -> list[tuple[str, Path]]:
    """(prefijo del id, carpeta): CHECKPOINT_DIR sin prefijo y, si se llama como un tipo de
    modelo (checkpoints/gpt), las carpetas de los otros tipos a su lado (checkpoints/bigram).
    Una carpeta con otro nombre (checkpoints/clase) se sirve sola: sus vecinas no son nuestras."""
    folders = [("", directory)]
    if directory.name in MODEL_TYPES:
        for model_type in MODEL_TYPES:
            if model_type != directory.name:
                folders.append((model_type + SIBLING_SEPARATOR, directory.parent / model_type))
    return folders


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    path: Path
    key: FileKey
    created: int  # segundos desde 1970 (llegada del fichero al directorio)
    model_type: str
    step: int
    val_loss: float | None
    run_name: str
    tokenizer: str = "char"  # char o bpe

    @property
    def metrics_path(self) -> Path | None:
        """El JSONL de métricas de su ejecución, si existe (por nombre de ejecución o fichero)."""
        for name in (self.run_name, self.id):
            # run_name viene de dentro del fichero: solo vale si es un nombre simple.
            if name and Path(name).name == name and name not in (".", ".."):
                candidate = self.path.with_name(name + METRICS_SUFFIX)
                if candidate.is_file():
                    return candidate
        return None


class ModelCatalog:
    def __init__(self, store: ModelStore, capacity: int) -> None:
        """``capacity``: modelos en memoria además del que se sirve por defecto."""
        self.store = store
        self.capacity = capacity
        self._meta: dict[FileKey, CatalogEntry | None] = {}  # None: el fichero no valida
        self._loaded: OrderedDict[FileKey, LoadedModel] = OrderedDict()
        self._warned: set[FileKey] = set()  # ids repetidos ya avisados
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # una carga a la vez (sin esperas: 429)

    def entries(self) -> list[CatalogEntry]:
        """Los checkpoints utilizables: los de CHECKPOINT_DIR del más reciente al más antiguo, y
        después los de cada carpeta hermana en el mismo orden. Se relee en cada llamada: lo que
        llega a cualquiera de las carpetas aparece sin reiniciar."""
        found: list[CatalogEntry] = []
        present: set[FileKey] = set()
        ids: set[str] = set()
        for prefix, folder in model_folders(self.store.directory):
            for path in reversed(list_checkpoints(folder)):
                key = file_key(path)
                if key is None or key in present:  # borrado, o el mismo fichero por un enlace
                    continue
                present.add(key)
                with self._lock:
                    known = key in self._meta
                    entry = self._meta.get(key)
                if not known:
                    entry = self._read_entry(path, key, prefix + path.stem)
                    with self._lock:
                        self._meta[key] = entry
                if entry is None:
                    continue
                if entry.id in ids:  # "bigram:x.pt" en CHECKPOINT_DIR: gana el de CHECKPOINT_DIR
                    self._warn_once(key, f"'{path}' no se lista: su id '{entry.id}' ya existe.")
                    continue
                ids.add(entry.id)
                found.append(entry)
        with self._lock:  # lo que ya no está se olvida (también de la caché LRU)
            self._meta = {k: v for k, v in self._meta.items() if k in present}
            self._warned &= present
            for k in [k for k in self._loaded if k not in present]:
                del self._loaded[k]
        return found

    def _warn_once(self, key: FileKey, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning("%s", message)

    @staticmethod
    def _read_entry(path: Path, key: FileKey, model_id: str) -> CatalogEntry | None:
        try:
            ckpt = load_checkpoint_file(path)
        except (LLMError, OSError) as exc:
            log.warning("'%s' no se lista como modelo: %s", path, exc)
            return None
        return CatalogEntry(
            id=model_id,
            path=path,
            key=key,
            created=key[1] // 1_000_000_000,
            model_type=ckpt.model_type,
            step=ckpt.step,
            tokenizer=tokenizer_kind(ckpt.tokenizer),
            val_loss=ckpt.val_loss,
            run_name=ckpt.run_name,
        )

    def find(self, name: str) -> CatalogEntry:
        """La entrada con ese identificador exacto, o un 404 con los nombres válidos."""
        entries = self.entries()
        for entry in entries:
            if entry.id == name:
                return entry
        names = ", ".join(e.id for e in entries[:20]) or "ninguno"
        raise APIError(
            404,
            f"no hay ningún modelo llamado '{name}'. Modelos disponibles: {names} "
            "(GET /v1/models los lista).",
            param="model",
        )

    def is_loaded(self, entry: CatalogEntry) -> bool:
        current = self.store.current()
        with self._lock:
            return entry.key in self._loaded or (current is not None and current.key == entry.key)

    def loaded_count(self) -> int:
        with self._lock:
            return len(self._loaded)

    def resolve(
        self, name: str | None, admit: Callable[[], AbstractContextManager[object]] | None = None
    ) -> LoadedModel | None:
        """El modelo pedido (cargándolo si hace falta), o el de por defecto si ``name`` es None.

        Una carga bajo demanda ocupa mientras dura lo que dé ``admit`` (el servidor pasa una
        plaza de generación: cuenta contra la misma capacidad, y sin plaza es un 429 al momento)
        y es la única de este worker: si ya hay otra en marcha, 429 al momento también. Ninguna
        petición se queda esperando con su hilo a que termine la carga de otra.
        """
        if name is None:
            return self.store.current()
        entry = self.find(name)
        current = self.store.current()
        if current is not None and current.key == entry.key:
            return current
        hit = self._cached(entry)
        if hit is not None:
            return hit
        if not self._load_lock.acquire(blocking=False):
            raise APIError(
                429,
                "este proceso ya está cargando otro modelo (se cargan de uno en uno). Vuelve "
                "a intentarlo en unos segundos.",
                param="model",
                headers={"Retry-After": "2"},
            )
        try:
            with admit() if admit is not None else nullcontext():
                return self._cached(entry) or self._load(entry, name)
        finally:
            self._load_lock.release()

    def _cached(self, entry: CatalogEntry) -> LoadedModel | None:
        with self._lock:
            hit = self._loaded.get(entry.key)
            if hit is not None:
                self._loaded.move_to_end(entry.key)
            return hit

    def _load(self, entry: CatalogEntry, name: str) -> LoadedModel:
        try:
            loaded = load_and_validate(entry.path, entry.key, self.store.device)
        except Exception as exc:  # como ModelStore: se anota, se recuerda y no se reintenta
            log.error("checkpoint descartado: '%s': %s", entry.path, exc)
            with self._lock:
                if entry.key in self._meta:
                    self._meta[entry.key] = None  # deja de listarse mientras siga igual
            raise APIError(
                404, f"el modelo '{name}' no se puede cargar: {exc}", param="model"
            ) from None
        with self._lock:
            self._loaded[entry.key] = loaded
            while len(self._loaded) > self.capacity:
                _, old = self._loaded.popitem(last=False)
                log.info("modelo descargado de la memoria (LRU): '%s'", old.path.name)
        log.info("modelo abierto bajo demanda: '%s' (paso %d)", entry.id, entry.step)
        return loaded

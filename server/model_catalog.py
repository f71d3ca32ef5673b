"""Todos los checkpoints de CHECKPOINT_DIR, para elegir con cuál generar (``"model"``).

El identificador de un modelo es el nombre de su fichero sin ``.pt``. Un nombre pedido por un
cliente solo se compara con esta lista: nunca se usa como ruta, así que ``../algo`` o
``/etc/passwd`` simplemente no están y dan 404.

Sin ``"model"`` se usa el que sirve ``ModelStore`` (el último utilizable, como siempre). Los
demás se cargan bajo demanda y se guardan en una caché LRU de ``MAX_EXTRA_MODELS`` entradas por
worker (un ajuste de server/settings.py): al cargar uno más, sale el que lleva más tiempo sin
usarse. Los metadatos de la lista (tipo, paso, pérdida) se leen una vez por fichero y se
recuerdan mientras el fichero no cambie.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from server.errors import APIError
from server.model_store import FileKey, LoadedModel, ModelStore, _file_key, load_and_validate
from shared.checkpoint import list_checkpoints, load_checkpoint_file
from shared.errors import LLMError

log = logging.getLogger("server")

METRICS_SUFFIX = ".metrics.jsonl"  # lo escribe el entrenador junto a <run>.pt


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
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # una carga a la vez: no se duplica memoria

    def entries(self) -> list[CatalogEntry]:
        """Los checkpoints utilizables del directorio, del más reciente al más antiguo."""
        found: list[CatalogEntry] = []
        present: set[FileKey] = set()
        for path in reversed(list_checkpoints(self.store.directory)):
            key = _file_key(path)
            if key is None:
                continue
            present.add(key)
            with self._lock:
                known = key in self._meta
                entry = self._meta.get(key)
            if not known:
                entry = self._read_entry(path, key)
                with self._lock:
                    self._meta[key] = entry
            if entry is not None:
                found.append(entry)
        with self._lock:  # lo que ya no está se olvida (también de la caché LRU)
            self._meta = {k: v for k, v in self._meta.items() if k in present}
            for k in [k for k in self._loaded if k not in present]:
                del self._loaded[k]
        return found

    @staticmethod
    def _read_entry(path: Path, key: FileKey) -> CatalogEntry | None:
        try:
            ckpt = load_checkpoint_file(path)
        except (LLMError, OSError) as exc:
            log.warning("'%s' no se lista como modelo: %s", path.name, exc)
            return None
        return CatalogEntry(
            id=path.stem,
            path=path,
            key=key,
            created=key[1] // 1_000_000_000,
            model_type=ckpt.model_type,
            step=ckpt.step,
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

    def resolve(self, name: str | None) -> LoadedModel | None:
        """El modelo pedido (cargándolo si hace falta), o el de por defecto si ``name`` es None."""
        if name is None:
            return self.store.current()
        entry = self.find(name)
        current = self.store.current()
        if current is not None and current.key == entry.key:
            return current
        with self._load_lock:
            with self._lock:
                hit = self._loaded.get(entry.key)
                if hit is not None:
                    self._loaded.move_to_end(entry.key)
                    return hit
            try:
                loaded = load_and_validate(entry.path, entry.key, self.store.device)
            except Exception as exc:
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

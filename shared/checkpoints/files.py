"""Escritura atómica de checkpoints, su lectura validada y la regla del "último utilizable".

Un checkpoint es un diccionario de tipos simples y tensores, guardado con ``torch.save``.
Se lee con ``torch.load(weights_only=True)``: nunca se deserializan objetos arbitrarios, así que
un fichero malicioso no puede ejecutar código. Basta con ``shared/`` y el fichero para generar.
Qué campos lleva y cómo se valida cada uno: ``shared/checkpoints/format.py``.

Regla del último checkpoint utilizable de un directorio (la misma para ``--resume``,
``trainer.generate``/``trainer.evaluate --ckpt DIR`` y el servidor):

1. Candidatos: los ficheros ``*.pt`` que no empiezan por punto (los temporales sí empiezan).
2. Orden: el que llegó al directorio más tarde primero, según su ``ctime`` (la hora en que el
   sistema cambió el fichero por última vez: al escribirlo, copiarlo o renombrarlo). A
   diferencia de la fecha de modificación, ``ctime`` no se puede poner a mano (``touch -d``,
   ``cp -p``, ``tar``), así que una fecha futura no bloquea el orden y una copia con fecha vieja
   también cuenta como nueva. En empate, el de nombre mayor.
3. Se usa el primero de ese orden que se lee y valida entero; los que fallan se saltan con aviso.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from shared.checkpoints.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_ZIP_ENTRIES,
    Checkpoint,
    checkpoint_from_raw,
)
from shared.checkpoints.models import LanguageModel, Tokenizer
from shared.common.errors import CheckpointError
from shared.common.memory_estimate import format_bytes, memory_limit

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METRICS_SUFFIX",
    "Checkpoint",
    "clean_stale_temp_files",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_checkpoint_file",
    "load_latest_usable",
    "load_model",
    "save_checkpoint",
]

SUFFIX = ".pt"
# Las métricas de una ejecución: el entrenador las escribe junto a su <run>.pt, y el servidor
# (GET /v1/models) y las gráficas las leen de ahí.
METRICS_SUFFIX = ".metrics.jsonl"
# Temporales de save_checkpoint: ".<nombre>.pt.<pid>.tmp". Un SIGKILL a mitad de guardado los
# deja atrás; pasado este tiempo sin cambios ya no los está escribiendo nadie.
TEMP_RE = re.compile(r"^\.[^/]+\.pt\.\d+\.tmp$")
STALE_TEMP_SECONDS = 15 * 60
SkipCallback = Callable[[Path, CheckpointError], None]


# Windows no deja sustituir un fichero que otro proceso tiene abierto (un generate que lee el
# último checkpoint en ese momento): os.replace da PermissionError. Se reintenta un rato corto.
REPLACE_RETRY_SECONDS = 2.0


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _replace(tmp: Path, path: Path) -> None:
    """``os.replace``; en Windows, con reintentos mientras el destino esté abierto."""
    deadline = time.monotonic() + REPLACE_RETRY_SECONDS
    while True:
        try:
            os.replace(tmp, path)
            return
        except PermissionError:
            if sys.platform != "win32" or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Escribe el checkpoint de forma atómica: o está entero o no está.

    Fichero temporal en el mismo directorio → flush + fsync → cerrarlo → ``os.replace``. Un
    lector o un corte de luz nunca ven un fichero a medias. Cerrado antes de renombrar: Windows
    no renombra un fichero abierto. Después se borran los temporales abandonados.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            torch.save(ckpt.to_dict(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # El cambio de nombre también debe llegar al disco: fsync del directorio.
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        dir_fd = None
    if dir_fd is not None:
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)
    clean_stale_temp_files(path.parent)
    return path


def clean_stale_temp_files(
    directory: str | Path, max_age: float = STALE_TEMP_SECONDS, now: float | None = None
) -> list[Path]:
    """Borra los temporales de ``save_checkpoint`` sin cambios desde hace ``max_age`` segundos.

    Solo los que siguen el patrón propio (``.<nombre>.pt.<pid>.tmp``); nunca otro fichero. Un
    guardado en curso escribe sin parar, así que su temporal nunca parece viejo. Devuelve los
    borrados.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_RE.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < max_age:
                continue
            os.unlink(entry.path)
        except OSError:  # ya no está, o no es nuestro para borrarlo
            continue
        removed.append(Path(entry.path))
    return removed


def _read_raw(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"no existe el checkpoint '{path}'.")
    limit, source = memory_limit("cpu")
    size = path.stat().st_size
    if limit is not None and size > limit:  # se lee entero a memoria: ni intentarlo
        raise CheckpointError(f"'{path}' ocupa {format_bytes(size)}, más que {source}.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"no se puede leer '{path}': {exc.strerror}.") from exc
    if not zipfile.is_zipfile(io.BytesIO(data)):
        # torch.save escribe siempre un zip: otra cosa es un fichero truncado o ajeno.
        raise CheckpointError(f"'{path}' está corrupto, truncado o no es un checkpoint.")
    try:
        entries = len(zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"'{path}' está corrupto, truncado o no es un checkpoint.") from exc
    if entries > MAX_ZIP_ENTRIES:
        # Un tensor por entrada: cientos de miles de tensores diminutos tardan minutos en leerse.
        raise CheckpointError(
            f"'{path}' tiene {entries} tensores; un checkpoint válido tiene como mucho "
            f"{MAX_ZIP_ENTRIES}."
        )
    try:
        raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"'{path}' contiene objetos no permitidos (posible código malicioso); "
            "se rechaza sin ejecutarlo."
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"'{path}' está corrupto, truncado o no es un checkpoint.") from exc
    except Exception as exc:  # cualquier otro fallo del formato: mensaje claro, sin traza
        raise CheckpointError(f"'{path}' no se puede leer como checkpoint.") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise CheckpointError(f"'{path}' no es un checkpoint de llm-desde-cero.")
    return raw


def load_checkpoint_file(path: str | Path) -> Checkpoint:
    """Lee y valida un fichero (en CPU). Lanza ``CheckpointError`` con un mensaje claro."""
    path = Path(path)
    return checkpoint_from_raw(_read_raw(path), str(path))


def load_latest_usable(
    directory: str | Path, on_skip: SkipCallback | None = None
) -> tuple[Checkpoint, Path]:
    """El último checkpoint utilizable del directorio (regla del módulo) y su ruta."""
    directory = Path(directory)
    candidates = list_checkpoints(directory)
    skipped: list[str] = []
    for path in reversed(candidates):
        try:
            return load_checkpoint_file(path), path
        except CheckpointError as exc:
            skipped.append(path.name)
            if on_skip is not None:
                on_skip(path, exc)
    if skipped:
        raise CheckpointError(
            f"ningún checkpoint de '{directory}' se puede usar (descartados: {', '.join(skipped)})."
        )
    raise CheckpointError(f"no hay ningún checkpoint (*.pt) en el directorio '{directory}'.")


def load_checkpoint(path: str | Path, on_skip: SkipCallback | None = None) -> Checkpoint:
    """Lee y valida un checkpoint (en CPU). Lanza ``CheckpointError`` con un mensaje claro.

    ``path`` puede ser un directorio: entonces se lee su último checkpoint utilizable, y
    ``on_skip`` recibe cada fichero más reciente que se descarta y por qué.
    """
    if Path(path).is_dir():
        return load_latest_usable(path, on_skip)[0]
    return load_checkpoint_file(path)


def load_model(
    path: str | Path, device: torch.device | str = "cpu", on_skip: SkipCallback | None = None
) -> tuple[LanguageModel, Tokenizer, Checkpoint]:
    """Atajo: checkpoint → (modelo en modo evaluación, tokenizador, metadatos)."""
    ckpt = load_checkpoint(path, on_skip)
    model = ckpt.build_model(device)
    model.eval()
    return model, ckpt.tokenizer, ckpt


def arrival_key(path: Path, st: os.stat_result) -> tuple[int, str]:
    """Clave de orden de la regla del módulo: llegada al directorio (ctime) y nombre."""
    return (st.st_ctime_ns, path.name)


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoints candidatos del directorio, del que llegó antes al que llegó después."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        if p.suffix != SUFFIX or p.name.startswith("."):
            continue
        try:
            st = p.stat()
        except OSError:  # borrado entre listar y mirar
            continue
        if p.is_file():
            found.append((arrival_key(p, st), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """El candidato más reciente según la regla (sin leerlo), o None si no hay ninguno."""
    ckpts = list_checkpoints(directory)
    return ckpts[-1] if ckpts else None

"""Formato de checkpoint, escritura atómica y la regla del "último checkpoint".

Un checkpoint es un diccionario de tipos simples y tensores, guardado con ``torch.save``.
Se lee con ``torch.load(weights_only=True)``: nunca se deserializan objetos arbitrarios, así que
un fichero malicioso no puede ejecutar código. Basta con ``shared/`` y el fichero para generar.

Regla del último checkpoint de un directorio: entre los ficheros ``*.pt`` que no empiezan por
punto (los temporales empiezan por punto), el de fecha de modificación más reciente; en caso de
empate, el de nombre mayor.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from shared.config import ModelConfig, config_from_dict
from shared.errors import CheckpointError, ConfigError, TokenizerError
from shared.models import LanguageModel, build_model
from shared.tokenizer import CharTokenizer

FORMAT_NAME = "llm-desde-cero/checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".pt"


@dataclass
class Checkpoint:
    """Todo lo que lleva un checkpoint, ya validado."""

    model_type: str
    config: ModelConfig
    tokenizer: CharTokenizer
    state_dict: dict[str, torch.Tensor]
    step: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    data_sha256: str = ""
    data_path: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    run_name: str = ""
    # Lo que necesita --resume: optimizador, estado de los generadores, ajustes del entrenamiento.
    train_state: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model_type": self.model_type,
            "model_config": self.config.to_dict(),
            "vocab": self.tokenizer.to_dict(),
            "state_dict": self.state_dict,
            "step": self.step,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "data_sha256": self.data_sha256,
            "data_path": self.data_path,
            "created_at": self.created_at,
            "run_name": self.run_name,
            "train_state": self.train_state,
        }

    def build_model(self, device: torch.device | str = "cpu") -> LanguageModel:
        """Crea el modelo, comprueba formas y nombres de los pesos y los carga."""
        model = build_model(self.model_type, self.config)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise CheckpointError(
                f"los pesos no encajan con la configuración del modelo: {first}"
            ) from exc
        return model.to(device)


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Escribe el checkpoint de forma atómica: o está entero o no está.

    Fichero temporal en el mismo directorio → flush + fsync → ``os.replace``. Un lector o un
    corte de luz nunca ven un fichero a medias.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(ckpt.to_dict(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # El cambio de nombre también debe llegar al disco: fsync del directorio.
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def resolve_checkpoint_path(path: str | Path) -> Path:
    """Un fichero tal cual; un directorio, su último checkpoint."""
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"no hay ningún checkpoint (*.pt) en el directorio '{path}'.")
        return latest
    return path


def _read_raw(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"no existe el checkpoint '{path}'.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"no se puede leer '{path}': {exc.strerror}.") from exc
    if not zipfile.is_zipfile(io.BytesIO(data)):
        # torch.save escribe siempre un zip: otra cosa es un fichero truncado o ajeno.
        raise CheckpointError(f"'{path}' está corrupto, truncado o no es un checkpoint.")
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


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Lee y valida un checkpoint (en CPU). Lanza ``CheckpointError`` con un mensaje claro.

    ``path`` puede ser un directorio: entonces se lee su último checkpoint.
    """
    path = resolve_checkpoint_path(path)
    raw = _read_raw(path)
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"'{path}' usa la versión de formato {version!r}; esta versión del proyecto lee "
            f"hasta la {FORMAT_VERSION}. Actualiza llm-desde-cero."
        )
    try:
        tokenizer = CharTokenizer.from_dict(raw["vocab"])
        config = config_from_dict(raw["model_type"], dict(raw["model_config"]))
        state_dict = raw["state_dict"]
        if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()
        ):
            raise CheckpointError(f"'{path}' tiene pesos con formato inválido.")
        ckpt = Checkpoint(
            model_type=raw["model_type"],
            config=config,
            tokenizer=tokenizer,
            state_dict=state_dict,
            step=int(raw.get("step", 0)),
            train_loss=raw.get("train_loss"),
            val_loss=raw.get("val_loss"),
            data_sha256=str(raw.get("data_sha256", "")),
            data_path=str(raw.get("data_path", "")),
            created_at=str(raw.get("created_at", "")),
            run_name=str(raw.get("run_name", "")),
            train_state=dict(raw.get("train_state") or {}),
        )
    except (KeyError, TypeError, ConfigError, TokenizerError) as exc:
        raise CheckpointError(f"'{path}' está incompleto o es incoherente: {exc}") from exc
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"'{path}': el vocabulario tiene {tokenizer.vocab_size} caracteres pero el modelo "
            f"espera {config.vocab_size}."
        )
    return ckpt


def load_model(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[LanguageModel, CharTokenizer, Checkpoint]:
    """Atajo: checkpoint → (modelo en modo evaluación, tokenizador, metadatos)."""
    ckpt = load_checkpoint(path)
    model = ckpt.build_model(device)
    model.eval()
    return model, ckpt.tokenizer, ckpt


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoints del directorio, del más antiguo al más reciente según la regla del módulo."""
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
            found.append((st.st_mtime_ns, p.name, p))
    return [p for _, _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """El último checkpoint del directorio (ver la regla arriba), o None si no hay ninguno."""
    ckpts = list_checkpoints(directory)
    return ckpts[-1] if ckpts else None

"""Qué lleva un checkpoint y cómo se valida cada campo al leerlo, en un solo sitio.

Un fichero que se deja leer pero trae datos raros (``val_loss="abc"``, un vocabulario con un
sustituto suelto, ``train_state="x"``...) se rechaza aquí entero, con un mensaje que dice qué
campo falla: así la CLI (código de salida 3) y el servidor (que lo salta y sigue con el modelo
anterior) rechazan exactamente los mismos ficheros. Orden de las comprobaciones: primero los
metadatos baratos, luego la memoria que pediría la configuración
(``shared/common/memory_estimate.py``) y
solo después nombres, formas y tipos de los tensores, contra las listas de
``shared/checkpoints/shapes.py``: nada se reserva antes de saber que cabe.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import torch

from shared.checkpoints.models import TOKENIZER_TYPES, LanguageModel, Tokenizer, build_model
from shared.checkpoints.shapes import Shape, optimizer_group_shapes, weight_shapes
from shared.common.errors import CheckpointError, ConfigError, TokenizerError
from shared.common.memory_estimate import check_fits, estimate_inference
from shared.config import MAX_N_LAYER, MODEL_TYPES, ModelConfig, config_from_dict
from shared.tokenizer import CharTokenizer

FORMAT_NAME = "llm-desde-cero/checkpoint"
FORMAT_VERSION = 1
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_TEXT = {"run_name": 200, "data_path": 4096, "created_at": 64}
MAX_SETTING_TEXT = 4096
# Cada tensor es una entrada del zip de torch.save. El mayor GPT válido (MAX_N_LAYER bloques,
# 12 tensores por bloque y 4 fuera) guarda sus pesos y, por cada uno, dos momentos y el paso de
# AdamW; el resto, de sobra para los generadores de muchos procesos.
MAX_ZIP_ENTRIES = 4 * (12 * MAX_N_LAYER + 4) + 1000


@dataclass
class Checkpoint:
    """Todo lo que lleva un checkpoint, ya validado."""

    model_type: str
    config: ModelConfig
    tokenizer: Tokenizer
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
        """Crea el modelo y carga los pesos (formas y nombres ya comprobados al leerlo)."""
        model = build_model(self.model_type, self.config)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise CheckpointError(
                f"los pesos no encajan con la configuración del modelo: {first}"
            ) from exc
        return model.to(device)


class _Invalid(Exception):
    """Un campo inválido; ``checkpoint_from_raw`` le añade el nombre del fichero."""


def _show(value: Any) -> str:
    text = repr(value)  # repr escapa los sustitutos: el mensaje siempre se puede imprimir
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean_text(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{name} debe ser texto (tiene {_show(value)})")
    if len(value) > limit:
        raise _Invalid(f"{name} tiene {len(value)} caracteres; el máximo es {limit}")
    if any("\ud800" <= c <= "\udfff" or c == "\x00" for c in value):
        raise _Invalid(f"{name} contiene caracteres no válidos (sustitutos sueltos o NUL)")
    return value


def _metadata(raw: dict[str, Any]) -> dict[str, Any]:
    step = raw.get("step", 0)
    if not _is_int(step) or step < 0:
        raise _Invalid(f"step debe ser un entero ≥ 0 (tiene {_show(step)})")
    out: dict[str, Any] = {"step": step}
    for name in ("train_loss", "val_loss"):
        value = raw.get(name)
        if value is not None and (not _is_real(value) or value < 0):
            raise _Invalid(f"{name} debe ser un número finito ≥ 0 o null (tiene {_show(value)})")
        out[name] = None if value is None else float(value)
    for name, limit in MAX_TEXT.items():
        out[name] = _clean_text(name, raw.get(name, ""), limit)
    if out["created_at"]:
        try:
            datetime.fromisoformat(out["created_at"])
        except ValueError as exc:
            shown = _show(out["created_at"])
            raise _Invalid(f"created_at no es una fecha ISO 8601 ({shown})") from exc
    sha = raw.get("data_sha256", "")
    if not isinstance(sha, str) or (sha and not SHA256_RE.match(sha)):
        raise _Invalid(f"data_sha256 debe ser un SHA-256 en hexadecimal (tiene {_show(sha)})")
    out["data_sha256"] = sha
    return out


def _check_tensor(name: str, value: Any, shape: Shape, dtype: torch.dtype = torch.float32) -> None:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
        raise _Invalid(f"{name} no es un tensor normal (tiene {type(value).__name__})")
    if value.dtype != dtype:
        raise _Invalid(f"{name} es {value.dtype} y el modelo usa {dtype}")
    if tuple(value.shape) != shape:
        raise _Invalid(
            f"{name} tiene forma {tuple(value.shape)} y la configuración pide {shape} "
            "(los pesos no encajan con la configuración del modelo)"
        )
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise _Invalid(f"{name} contiene NaN o infinitos")


def _state_dict(value: Any, config: ModelConfig) -> dict[str, torch.Tensor]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _Invalid("state_dict debe ser un diccionario nombre → tensor")
    expected = weight_shapes(config)  # todos los pesos son float32
    missing, extra = sorted(set(expected) - set(value)), sorted(set(value) - set(expected))
    if missing or extra:
        raise _Invalid(
            "los pesos no encajan con la configuración del modelo: "
            f"faltan {_show(missing)}, sobran {_show(extra)}"
        )
    for name, shape in expected.items():
        _check_tensor(f"el peso {name}", value[name], shape)
    return value


def _check_setting_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, bool) or _is_int(value):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    if isinstance(value, str):
        _clean_text(f"train_state.settings.{key}", value, MAX_SETTING_TEXT)
        return
    raise _Invalid(f"train_state.settings.{key} tiene un valor no válido ({_show(value)})")


def _check_rng(where: str, rng: Any, nested: bool = True) -> None:
    if not isinstance(rng, dict):
        raise _Invalid(f"{where} debe ser un diccionario")
    for key in ("torch", "batches"):
        state = rng.get(key)
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise _Invalid(f"{where}.{key} debe ser el estado de un generador (tensor uint8)")
        try:
            torch.Generator().set_state(state)
        except (RuntimeError, TypeError) as exc:
            raise _Invalid(f"{where}.{key} no es un estado de generador válido") from exc
    cuda = rng.get("cuda", [])
    if not isinstance(cuda, list | tuple) or not all(
        isinstance(s, torch.Tensor) and s.dtype == torch.uint8 and s.dim() == 1 for s in cuda
    ):
        raise _Invalid(f"{where}.cuda debe ser una lista de estados de generador (uint8)")
    if "per_rank" in rng:
        per_rank = rng["per_rank"]
        if not nested or not isinstance(per_rank, list | tuple) or not per_rank:
            raise _Invalid(f"{where}.per_rank debe ser una lista no vacía de estados")
        for i, item in enumerate(per_rank):
            _check_rng(f"{where}.per_rank[{i}]", item, nested=False)


def _check_group_options(i: int, group: dict[str, Any]) -> None:
    for key, value in group.items():
        if key == "params":
            continue
        if key == "betas":
            ok = isinstance(value, list | tuple) and len(value) == 2
            if not ok or not all(_is_real(b) and 0 <= b < 1 for b in value):
                raise _Invalid(f"train_state.optimizer: betas del grupo {i} no válidas")
        elif key in ("lr", "eps", "weight_decay"):
            if not _is_real(value) or value < 0:
                raise _Invalid(f"train_state.optimizer: {key} del grupo {i} no válido")
        elif not (value is None or isinstance(value, bool | int | float | str)):
            raise _Invalid(f"train_state.optimizer: opción {key!r} del grupo {i} no válida")


def _check_optimizer(opt: Any, config: ModelConfig) -> None:
    """Grupos y estado de AdamW coherentes con los parámetros del modelo, en el mismo orden."""
    where = "train_state.optimizer"
    if not isinstance(opt, dict) or not isinstance(opt.get("param_groups"), list):
        raise _Invalid(f"{where} debe tener param_groups")
    state = opt.get("state")
    if not isinstance(state, dict):
        raise _Invalid(f"{where} debe tener state")
    expected = optimizer_group_shapes(config)  # los grupos de optimizer_groups
    if len(opt["param_groups"]) != len(expected):
        got = len(opt["param_groups"])
        raise _Invalid(f"{where} tiene {got} grupos de parámetros; el modelo, {len(expected)}")
    shapes: dict[int, tuple[int, ...]] = {}
    for i, (group, want) in enumerate(zip(opt["param_groups"], expected, strict=True)):
        ids = group.get("params") if isinstance(group, dict) else None
        if not isinstance(ids, list) or len(ids) != len(want):
            raise _Invalid(f"{where}: el grupo {i} no tiene los parámetros del modelo")
        for pid, shape in zip(ids, want, strict=True):
            if not _is_int(pid) or pid in shapes:
                raise _Invalid(f"{where}: identificador de parámetro inválido {_show(pid)}")
            shapes[pid] = shape
        _check_group_options(i, group)
    for pid, entry in state.items():
        if pid not in shapes or not isinstance(entry, dict):
            raise _Invalid(f"{where}: estado para un parámetro desconocido {_show(pid)}")
        for key, value in entry.items():
            if key == "step":
                ok = _is_real(value) or (isinstance(value, torch.Tensor) and value.numel() == 1)
                if not ok:
                    raise _Invalid(f"{where}: step del parámetro {pid} no válido")
            else:
                _check_tensor(f"{where}.state[{pid}].{key}", value, shapes[pid])


def _train_state(value: Any, config: ModelConfig) -> dict[str, Any]:
    """Vacío (un checkpoint solo para generar) o con todo lo que necesita --resume."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"train_state debe ser un diccionario (tiene {_show(value)})")
    if not value:
        return value
    missing = [k for k in ("settings", "optimizer", "rng", "world_size") if k not in value]
    if missing:
        raise _Invalid(f"a train_state le falta {', '.join(missing)}")
    settings = value["settings"]
    if not isinstance(settings, dict) or not all(isinstance(k, str) for k in settings):
        raise _Invalid("train_state.settings debe ser un diccionario")
    for key, item in settings.items():
        _check_setting_value(key, item)
    world = value["world_size"]
    if not _is_int(world) or world < 1:
        raise _Invalid(f"train_state.world_size debe ser un entero ≥ 1 (tiene {_show(world)})")
    _check_rng("train_state.rng", value["rng"])
    _check_optimizer(value["optimizer"], config)
    return value


def tokenizer_from_dict(vocab: Any) -> Tokenizer:
    """El tokenizador guardado, del tipo que diga (``char`` o ``bpe``), ya comprobado.

    Cada tokenizador valida lo suyo al reconstruirse: caracteres repetidos o sustitutos sueltos;
    fusiones que no son pares de enteros, que usan tokens que aún no existen o repetidas."""
    kind = vocab.get("type") if isinstance(vocab, dict) else None
    if kind not in TOKENIZER_TYPES:
        raise _Invalid(f"vocab tiene un tipo de tokenizador desconocido {_show(kind)}")
    return TOKENIZER_TYPES[kind].from_dict(vocab)


def checkpoint_from_raw(raw: Any, where: str) -> Checkpoint:
    """Valida el diccionario leído de ``where`` campo a campo y devuelve el ``Checkpoint``."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise CheckpointError(f"'{where}' no es un checkpoint de llm-desde-cero.")
    version = raw.get("format_version")
    if not _is_int(version) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"'{where}' usa la versión de formato {_show(version)}; esta versión del proyecto "
            f"lee hasta la {FORMAT_VERSION}. Actualiza llm-desde-cero."
        )
    try:
        model_type = raw.get("model_type")
        if model_type not in MODEL_TYPES:
            raise _Invalid(f"model_type desconocido {_show(model_type)}")
        config_dict = raw.get("model_config")
        if not isinstance(config_dict, dict):
            raise _Invalid("falta model_config o no es un diccionario")
        config = config_from_dict(model_type, dict(config_dict))
        tokenizer = tokenizer_from_dict(raw.get("vocab"))
        if tokenizer.vocab_size != config.vocab_size:
            unit = "caracteres" if isinstance(tokenizer, CharTokenizer) else "tokens"
            raise _Invalid(
                f"el vocabulario tiene {tokenizer.vocab_size} {unit} pero el modelo "
                f"espera {config.vocab_size}"
            )
        meta = _metadata(raw)
        # Antes de tocar los tensores: ¿cabe lo que declara la configuración?
        check_fits(estimate_inference(config), "cpu", "este modelo")
        state_dict = _state_dict(raw.get("state_dict"), config)
        train_state = _train_state(raw.get("train_state"), config)
    except (_Invalid, ConfigError, TokenizerError) as exc:
        raise CheckpointError(f"'{where}' no es válido: {str(exc).rstrip('.')}.") from exc
    return Checkpoint(
        model_type=model_type,
        config=config,
        tokenizer=tokenizer,
        state_dict=state_dict,
        train_state=train_state,
        **meta,
    )

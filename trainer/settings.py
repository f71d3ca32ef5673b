"""Ajustes de un entrenamiento: lo que dicen los flags de la CLI, ya validado."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from shared import config as defaults
from shared.config import BigramConfig, GPTConfig, ModelConfig
from shared.errors import ConfigError

RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def default_checkpoint_dir(model: str) -> str:
    """checkpoints/gpt, checkpoints/bigram: cada modelo en su carpeta, para que entrenar el
    bigrama no cambie en silencio lo que sirven `make serve` y `make generate`."""
    return f"{defaults.DEFAULT_CHECKPOINT_DIR}/{model}"


@dataclass
class TrainSettings:
    model: str = "gpt"
    data: str = defaults.DEFAULT_DATA
    max_steps: int = defaults.DEFAULT_MAX_STEPS
    batch_size: int = defaults.DEFAULT_BATCH_SIZE
    block_size: int = defaults.DEFAULT_BLOCK_SIZE
    lr: float | None = None  # None = la de cada modelo (config.DEFAULT_LR)
    weight_decay: float | None = None
    warmup_steps: int | None = None
    grad_clip: float = 1.0
    grad_accum: int = 1
    eval_interval: int = defaults.DEFAULT_EVAL_INTERVAL
    eval_iters: int = defaults.DEFAULT_EVAL_ITERS
    n_embd: int = 128
    n_head: int = 4
    n_layer: int = 2
    dropout: float = 0.0
    attention: str = "sdpa"
    device: str = "auto"
    dtype: str = "auto"  # bf16 donde es más rápido (AMX, GPU Ampere+), si no float32
    compile: bool = False
    seed: int = defaults.DEFAULT_SEED
    checkpoint_dir: str = ""  # "" = checkpoints/<modelo>: un modelo por carpeta
    run_name: str = ""
    resume: str | None = None  # "latest" o una ruta

    def __post_init__(self) -> None:
        if not self.checkpoint_dir:
            self.checkpoint_dir = default_checkpoint_dir(self.model)
        if not self.run_name:
            self.run_name = f"{self.model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else defaults.DEFAULT_LR[self.model]

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return defaults.DEFAULT_WEIGHT_DECAY[self.model]

    def validate(self) -> None:
        if self.model not in defaults.MODEL_TYPES:
            raise ConfigError(
                f"modelo desconocido '{self.model}'; opciones: {', '.join(defaults.MODEL_TYPES)}."
            )
        for name in ("max_steps", "batch_size", "block_size", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} debe ser positivo ({value}).")
        if self.grad_accum <= 0:
            raise ConfigError(f"--grad-accum debe ser positivo ({self.grad_accum}).")
        for name in ("lr", "weight_decay", "grad_clip", "dropout"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} debe ser un número finito (recibido: {value}).")
        if not self.learning_rate > 0:
            raise ConfigError(f"--lr debe ser positivo ({self.learning_rate}).")
        if self.decay < 0:
            raise ConfigError("--weight-decay no puede ser negativo.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout debe estar entre 0 y 1, sin llegar a 1 ({self.dropout}).")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ConfigError("--warmup-steps no puede ser negativo.")
        if not self.grad_clip >= 0:
            raise ConfigError("--grad-clip no puede ser negativo (0 lo desactiva).")
        if not RUN_NAME_RE.match(self.run_name):
            raise ConfigError(
                f"--run-name '{self.run_name}' no es válido: usa letras, números, '.', '_' o '-'."
            )
        self.model_config(vocab_size=1).validate()

    def model_config(self, vocab_size: int) -> ModelConfig:
        if self.model == "bigram":
            return BigramConfig(vocab_size=vocab_size, block_size=self.block_size)
        return GPTConfig(
            vocab_size=vocab_size,
            block_size=self.block_size,
            n_embd=self.n_embd,
            n_head=self.n_head,
            n_layer=self.n_layer,
            dropout=self.dropout,
            attention=self.attention,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

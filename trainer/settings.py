"""Ajustes de un entrenamiento, declarados una sola vez.

Cada campo de ``TrainSettings`` lleva en ``metadata`` lo que una persona lee de él: la ayuda en
español, el flag, el metavar, las opciones y el nombre de la variable de make, .env y Docker. De
aquí salen el argparse de ``python -m trainer`` (trainer/cli.py), la tabla de
docs/entrenar.md (trainer/options_doc.py) y lo que comprueban las pruebas del Makefile,
compose.yaml y docker/trainer-entrypoint.sh. Los valores por defecto del modelo son los campos
de shared/config.py (shared no puede importar trainer); aquí solo se leen.
"""

from __future__ import annotations

import math
import re
from dataclasses import Field, asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, get_type_hints

from shared.common.errors import ConfigError
from shared.config import ATTENTION_KINDS, MODEL_TYPES, BigramConfig, GPTConfig, ModelConfig

# Las precisiones de --dtype (trainer/precision.py las aplica).
DTYPES = ("auto", "float32", "bfloat16")
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Valores por defecto del entrenamiento (los de `make train`; el Makefile, compose y .env.example
# se comprueban contra ellos en tests/test_settings_sources.py).
DEFAULT_DATA = "data/tiny_spanish.txt"
DEFAULT_CHECKPOINT_DIR = "checkpoints"
DEFAULT_MAX_STEPS = 2000
DEFAULT_BATCH_SIZE = 32
DEFAULT_EVAL_INTERVAL = 200
DEFAULT_EVAL_ITERS = 50
DEFAULT_SEED = 1337
# Tasa de aprendizaje por modelo (medido, ver docs/entrenar.md): el bigrama es una tabla de
# logits que parte de cero y necesita pasos grandes; el GPT, lo habitual en GPT pequeños de
# caracteres.
DEFAULT_LR = {"bigram": 1e-1, "gpt": 1e-3}
DEFAULT_WEIGHT_DECAY = {"bigram": 0.0, "gpt": 0.1}
# Los tokenizadores de --tokenizer: un token por carácter (la lección) o BPE de bytes (el paso
# siguiente, shared/bpe_tokenizer.py).
TOKENIZERS = ("char", "bpe")
# Vocabulario BPE por defecto: los 256 bytes y 256 fusiones. Con un texto pequeño como
# data/tiny_spanish.txt (170 KB) ya da unos 2 caracteres por token; con más fusiones cada token
# sale pocas veces en el entrenamiento (medido en docs/aprender.md, «Más allá de los caracteres»).
DEFAULT_BPE_VOCAB_SIZE = 512
MAX_BPE_VOCAB_SIZE = 65_536


def model_default(name: str) -> Any:
    """El valor por defecto de un campo de GPTConfig (el tamaño del mini GPT de la lección)."""
    return GPTConfig.__dataclass_fields__[name].default


def default_checkpoint_dir(model: str) -> str:
    """checkpoints/gpt, checkpoints/bigram: cada modelo en su carpeta, para que entrenar el
    bigrama no cambie en silencio lo que sirven `make serve` y `make generate`."""
    return f"{DEFAULT_CHECKPOINT_DIR}/{model}"


@dataclass(frozen=True)
class Option:
    """Lo que la CLI, la documentación y el Makefile necesitan saber de un ajuste."""

    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    # La variable de make, .env, compose.yaml y docker/trainer-entrypoint.sh (None: no hay).
    env: str | None = None
    # Cómo se explica el valor por defecto cuando no es un valor fijo (None: el del campo).
    shown_default: str | None = None
    # Se puede cambiar al reanudar (--resume); los demás ajustes son los del checkpoint.
    resumable: bool = False
    # --resume sin valor equivale a --resume <const>.
    const: str | None = None

    def flag(self, name: str) -> str:
        return "--" + name.replace("_", "-")


def option(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"option": Option(help=help, **kwargs)})


def _per_model(values: dict[str, float]) -> str:
    return ", ".join(f"{values[m]:g} {'bigrama' if m == 'bigram' else m}" for m in values)


@dataclass
class TrainSettings:
    model: str = option("gpt", "qué modelo entrenar", choices=MODEL_TYPES, env="MODEL")
    data: str = option(DEFAULT_DATA, "texto UTF-8", metavar="FICHERO", env="DATA", resumable=True)
    max_steps: int = option(
        DEFAULT_MAX_STEPS, "pasos de optimización", env="MAX_STEPS", resumable=True
    )
    batch_size: int = option(DEFAULT_BATCH_SIZE, "secuencias por lote", env="BATCH_SIZE")
    block_size: int = option(model_default("block_size"), "longitud del contexto", env="BLOCK_SIZE")
    tokenizer: str = option(
        "char",
        "cómo se parte el texto: char = un token por carácter; bpe = bytes y fusiones aprendidas "
        "del split de entrenamiento",
        choices=TOKENIZERS,
        env="TOKENIZER",
    )
    vocab_size: int = option(
        DEFAULT_BPE_VOCAB_SIZE,
        "tokens del vocabulario BPE (256 bytes + fusiones); con char, el vocabulario son los "
        "caracteres del texto y esto no se usa",
        env="VOCAB_SIZE",
    )
    lr: float | None = option(
        None,
        "tasa de aprendizaje máxima",
        shown_default=_per_model(DEFAULT_LR),
    )
    weight_decay: float | None = option(
        None,
        "weight decay de AdamW en las matrices",
        shown_default=_per_model(DEFAULT_WEIGHT_DECAY),
    )
    warmup_steps: int | None = option(
        None, "pasos de calentamiento", shown_default="min(100, max_steps/10)"
    )
    grad_clip: float = option(1.0, "norma máxima del gradiente, 0 = sin recorte")
    grad_accum: int = option(1, "microlotes acumulados por paso", resumable=True)
    eval_interval: int = option(DEFAULT_EVAL_INTERVAL, "evaluar cada N pasos", resumable=True)
    eval_iters: int = option(DEFAULT_EVAL_ITERS, "lotes por evaluación")
    n_embd: int = option(
        model_default("n_embd"), "dimensión de los embeddings del GPT", env="N_EMBD"
    )
    n_head: int = option(model_default("n_head"), "cabezas de atención del GPT", env="N_HEAD")
    n_layer: int = option(model_default("n_layer"), "bloques transformer del GPT", env="N_LAYER")
    dropout: float = option(model_default("dropout"), "dropout del GPT")
    attention: str = option(
        model_default("attention"),
        "sdpa = núcleo rápido; manual = versión explícita",
        choices=ATTENTION_KINDS,
    )
    device: str = option(
        "auto", "auto, cpu, cuda, cuda:N o mps", metavar="DISPOSITIVO", env="DEVICE", resumable=True
    )
    dtype: str = option(
        "auto",
        "precisión del cálculo; auto = bfloat16 donde es más rápido que float32 (CPU con AMX, "
        "GPU desde Ampere), si no float32",
        choices=DTYPES,
        resumable=True,
    )
    compile: bool = option(False, "usar torch.compile (necesita un compilador de C)")
    seed: int = option(DEFAULT_SEED, "semilla de inicialización y lotes", env="SEED")
    checkpoint_dir: str = option(
        "",  # "" = checkpoints/<modelo>: un modelo por carpeta
        "dónde guardar",
        metavar="CARPETA",
        env="CHECKPOINT_DIR",
        shown_default=f"{default_checkpoint_dir('<modelo>')}; al reanudar, la carpeta del "
        "checkpoint reanudado",
        resumable=True,
    )
    run_name: str = option(
        "",  # "" = <modelo>-<fecha>-<hora>
        "nombre del checkpoint",
        metavar="NOMBRE",
        env="RUN_NAME",
        shown_default="<modelo>-<fecha>-<hora>; al reanudar, el del checkpoint reanudado",
        resumable=True,
    )
    resume: str | None = option(
        None,
        "continuar un entrenamiento: el último checkpoint de --checkpoint-dir, o el fichero "
        "indicado",
        metavar="CHECKPOINT",
        const="latest",
    )

    def __post_init__(self) -> None:
        if not self.checkpoint_dir:
            self.checkpoint_dir = default_checkpoint_dir(self.model)
        if not self.run_name:
            self.run_name = f"{self.model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.model]

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return DEFAULT_WEIGHT_DECAY[self.model]

    def validate(self) -> None:
        """Los ajustes del entrenador. Los del modelo (n_embd divisible por n_head, el rango del
        dropout...) los comprueba la configuración del modelo al construirse, una sola vez
        (shared/config.py)."""
        if self.model not in MODEL_TYPES:
            raise ConfigError(
                f"modelo desconocido '{self.model}'; opciones: {', '.join(MODEL_TYPES)}."
            )
        for name in ("max_steps", "batch_size", "block_size", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} debe ser positivo ({value}).")
        if self.tokenizer not in TOKENIZERS:
            raise ConfigError(
                f"tokenizador desconocido '{self.tokenizer}'; opciones: {', '.join(TOKENIZERS)}."
            )
        if self.tokenizer == "bpe" and not 256 <= self.vocab_size <= MAX_BPE_VOCAB_SIZE:
            raise ConfigError(
                f"--vocab-size debe estar entre 256 (los bytes) y {MAX_BPE_VOCAB_SIZE} "
                f"({self.vocab_size})."
            )
        if self.grad_accum <= 0:
            raise ConfigError(f"--grad-accum debe ser positivo ({self.grad_accum}).")
        for name in ("lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} debe ser un número finito (recibido: {value}).")
        if not self.learning_rate > 0:
            raise ConfigError(f"--lr debe ser positivo ({self.learning_rate}).")
        if self.decay < 0:
            raise ConfigError("--weight-decay no puede ser negativo.")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ConfigError("--warmup-steps no puede ser negativo.")
        if not self.grad_clip >= 0:
            raise ConfigError("--grad-clip no puede ser negativo (0 lo desactiva).")
        if not RUN_NAME_RE.match(self.run_name):
            raise ConfigError(
                f"--run-name '{self.run_name}' no es válido: usa letras, números, '.', '_' o '-'."
            )

    def model_config(self, vocab_size: int) -> ModelConfig:
        """La configuración del modelo, ya validada (ConfigError si no vale)."""
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


def settings_fields() -> list[tuple[Field[Any], Option]]:
    """Cada ajuste con su declaración, en el orden de la clase (el de --help y la tabla)."""
    return [(f, f.metadata["option"]) for f in fields(TrainSettings)]


def value_type(f: Field[Any]) -> type:
    """int, float, str o bool: el tipo del valor de un ajuste (sin el None de «sin fijar»)."""
    hint = get_type_hints(TrainSettings)[f.name]
    kinds = [k for k in getattr(hint, "__args__", (hint,)) if k is not type(None)]
    return kinds[0]


def shown_default(f: Field[Any], opt: Option) -> str | None:
    """El valor por defecto tal como se explica (None: no se muestra, p. ej. un interruptor)."""
    if opt.shown_default is not None:
        return opt.shown_default
    if f.default is None or f.default is False:
        return None
    return str(f.default)


# Los ajustes que se pueden cambiar al reanudar (los demás son los del checkpoint).
RESUME_OVERRIDABLE = tuple(f.name for f, opt in settings_fields() if opt.resumable)

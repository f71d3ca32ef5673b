"""La configuración de los dos modelos: qué significa cada campo y qué valores admite.

Los valores por defecto son los del mini GPT de la lección (`make train`); el entrenamiento
(pasos, lote, tasa de aprendizaje...) tiene los suyos en trainer/settings.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from shared.common.errors import ConfigError

MODEL_TYPES = ("bigram", "gpt")
ATTENTION_KINDS = ("sdpa", "manual")


@dataclass(frozen=True)
class BigramConfig:
    """El bigrama solo necesita el tamaño del vocabulario.

    ``block_size`` no influye en el modelo (solo mira el último carácter), pero el muestreador
    recorta el contexto con él, igual que con el GPT.
    """

    vocab_size: int  # cuántos símbolos distintos hay (lo fija el tokenizador)
    block_size: int = 128  # cuántos caracteres de contexto se le pasan como mucho

    def __post_init__(self) -> None:
        self.validate()  # una configuración que existe es válida: nadie la vuelve a comprobar

    def validate(self) -> None:
        _check_positive("vocab_size", self.vocab_size, MAX_VOCAB_SIZE)
        _check_positive("block_size", self.block_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GPTConfig:
    """Hiperparámetros del mini GPT."""

    vocab_size: int  # cuántos símbolos distintos hay (lo fija el tokenizador)
    block_size: int = 128  # cuántos caracteres de contexto mira como mucho
    n_embd: int = 128  # dimensión del vector de cada posición
    n_head: int = 4  # cabezas de atención (cada una con n_embd / n_head dimensiones)
    n_layer: int = 2  # bloques transformer apilados
    dropout: float = 0.0  # fracción de activaciones apagadas al entrenar (0 = ninguna)
    bias: bool = True  # sesgos en las capas lineales y en LayerNorm
    # La misma cuenta de dos maneras: "sdpa" con F.scaled_dot_product_attention (rápido) o
    # "manual", la versión explícita que se lee en transformer_model.py.
    attention: str = "sdpa"

    def __post_init__(self) -> None:
        self.validate()  # una configuración que existe es válida: nadie la vuelve a comprobar

    def validate(self) -> None:
        _check_positive("vocab_size", self.vocab_size, MAX_VOCAB_SIZE)
        _check_positive("n_layer", self.n_layer, MAX_N_LAYER)
        for name in ("block_size", "n_embd", "n_head"):
            _check_positive(name, getattr(self, name))
        if self.n_embd % self.n_head != 0:
            raise ConfigError(
                f"n_embd ({self.n_embd}) debe ser divisible por n_head ({self.n_head}): "
                "cada cabeza de atención recibe n_embd / n_head dimensiones."
            )
        # Los tipos se comprueban aquí porque la configuración también llega de un checkpoint.
        if not isinstance(self.dropout, int | float) or isinstance(self.dropout, bool):
            raise ConfigError(f"dropout debe ser un número (recibido: {self.dropout!r}).")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout debe estar en [0, 1) (recibido: {self.dropout}).")
        if not isinstance(self.bias, bool):
            raise ConfigError(f"bias debe ser true o false (recibido: {self.bias!r}).")
        if not isinstance(self.attention, str) or self.attention not in ATTENTION_KINDS:
            raise ConfigError(
                f"atención desconocida {self.attention!r}; opciones: {', '.join(ATTENTION_KINDS)}."
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ModelConfig = BigramConfig | GPTConfig


# Topes fijos. La configuración también llega de un checkpoint, que puede traer cualquier cosa:
# estos topes rechazan valores absurdos antes de construir nada. (Si el modelo cabe en la
# memoria de esta máquina se comprueba aparte: shared/common/memory_estimate.py.)
# Un vocabulario de caracteres no puede tener más símbolos que caracteres tiene Unicode
# (0x110000 puntos de código menos los 0x800 "sustitutos", que no son caracteres).
MAX_VOCAB_SIZE = 0x110000 - 0x800
# Construir miles de bloques tarda decenas de segundos aunque sean diminutos y quepan en
# memoria; 512 capas es mucho más de lo que cualquier lección necesita.
MAX_N_LAYER = 512


def _check_positive(name: str, value: int, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"'{name}' debe ser un entero positivo (recibido: {value!r}).")
    if maximum is not None and value > maximum:
        raise ConfigError(f"'{name}' no puede pasar de {maximum} (recibido: {value}).")


def config_from_dict(model_type: str, data: dict[str, Any]) -> ModelConfig:
    """Reconstruye la configuración guardada en un checkpoint, rechazando claves extrañas."""
    cls = {"bigram": BigramConfig, "gpt": GPTConfig}.get(model_type)
    if cls is None:
        raise ConfigError(f"tipo de modelo desconocido {model_type!r}.")
    if not all(isinstance(k, str) for k in data):
        raise ConfigError("la configuración tiene claves que no son texto.")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"claves de configuración desconocidas: {sorted(unknown)}.")
    try:
        config = cls(**data)
    except TypeError as exc:
        raise ConfigError(f"configuración incompleta para '{model_type}': {exc}") from exc
    return config  # ya validada al construirla

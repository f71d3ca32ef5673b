"""Cómo se elige el siguiente carácter a partir de los logits: temperatura, top-k y top-p."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from shared.common.errors import ConfigError

MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class SamplingParams:
    """Ajustes de muestreo. Los mismos para la CLI, la API HTTP y el playground."""

    max_new_tokens: int = 300
    temperature: float = 1.0  # 0 = codicioso: siempre el carácter más probable
    top_k: int = 0  # 0 = sin límite
    top_p: float = 1.0  # 1 = sin límite
    seed: int | None = None  # None = una semilla aleatoria
    use_cache: bool = True  # caché KV del GPT (mismo texto, más rápido)
    top_probs: int = 0  # cuántas probabilidades del siguiente carácter informar (0 = ninguna)

    def __post_init__(self) -> None:
        # La única comprobación de la biblioteca, al crearlos: ningún ajuste inválido llega a
        # generar, venga de la CLI, del servidor (que antes lo comprobó con pydantic) o de Python.
        self.validate()

    def validate(self) -> None:
        if self.max_new_tokens < 0:
            raise ConfigError("max_new_tokens no puede ser negativo.")
        if not 0 <= self.temperature < math.inf:  # también rechaza NaN
            raise ConfigError("la temperatura debe ser un número finito >= 0.")
        if self.top_k < 0:
            raise ConfigError("top_k debe ser >= 0 (0 desactiva el filtro).")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError("top_p debe estar en (0, 1].")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"la semilla debe estar entre 0 y {MAX_SEED}.")
        if self.top_probs < 0:
            raise ConfigError("top_probs no puede ser negativo.")


def next_char_distribution(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Convierte los logits (vocab,) en la distribución de la que se sorteará el carácter."""
    logits = logits.detach().float().cpu()
    # Temperatura < 1 afila la distribución (más conservadora); > 1 la aplana (más creativa).
    scaled = logits / params.temperature if params.temperature > 0 else logits
    if params.temperature == 0 or not torch.isfinite(scaled.max()):
        # Límite de temperatura → 0: toda la probabilidad en el carácter más puntuado. También
        # cuando la temperatura es tan pequeña (p. ej. 1e-140) que el máximo desborda a infinito.
        probs = torch.zeros_like(logits)
        probs[int(torch.argmax(logits))] = 1.0
        return probs
    logits = scaled
    if 0 < params.top_k < logits.numel():
        # top-k: solo compiten los k caracteres más probables.
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        # top-p (núcleo): el menor grupo de caracteres cuya probabilidad acumulada llega a p.
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=0) - sorted_probs
        drop = before >= params.top_p
        # El más probable queda siempre, aunque p sea tan pequeño que en float32 vale 0.
        drop[0] = False
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs = probs / probs.sum()
    return probs


def sample_from(probs: torch.Tensor, generator: torch.Generator) -> int:
    """Sortea un índice según ``probs``: un número uniforme en [0, 1) y la suma acumulada."""
    u = torch.rand(1, generator=generator, dtype=torch.float64)
    cdf = torch.cumsum(probs.double(), dim=0)
    idx = int(torch.searchsorted(cdf, u * cdf[-1], right=True))
    # Nunca devolvemos un carácter con probabilidad 0 (por redondeo en el último tramo).
    idx = min(idx, probs.numel() - 1)
    while probs[idx] == 0 and idx > 0:
        idx -= 1
    return idx


def sample_next_char(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator
) -> tuple[int, torch.Tensor]:
    """Elige el id del siguiente carácter; devuelve también la distribución usada."""
    probs = next_char_distribution(logits, params)
    if params.temperature == 0:
        return int(torch.argmax(probs)), probs
    return sample_from(probs, generator), probs


def make_generator(seed: int | None) -> torch.Generator:
    """Generador propio de cada petición: la misma semilla da el mismo texto en todas partes."""
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen

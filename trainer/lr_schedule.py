"""Tasa de aprendizaje: calentamiento lineal y después decaimiento coseno."""

from __future__ import annotations

import math


def default_warmup(max_steps: int) -> int:
    return min(100, max(1, max_steps // 10))


def lr_at(step: int, max_lr: float, warmup: int, max_steps: int, min_ratio: float = 0.1) -> float:
    """``step`` empieza en 0. Sube de 0 a ``max_lr`` en ``warmup`` pasos y baja a
    ``min_ratio * max_lr`` siguiendo medio coseno hasta ``max_steps``.

    El calentamiento evita pasos enormes mientras Adam aún no ha estimado bien sus momentos.
    """
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step >= max_steps:
        return max_lr * min_ratio
    progress = (step - warmup) / max(1, max_steps - warmup)
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))
    return max_lr * (min_ratio + (1.0 - min_ratio) * coeff)

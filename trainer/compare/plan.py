"""Qué se entrena al comparar: las órdenes de la semilla y el barrido de los consejos didácticos.

Las órdenes de la semilla son ``make train-bigram`` y ``make train``, es decir, los valores por
defecto de ``TrainSettings``. El barrido cambia una sola cosa cada vez respecto de ese GPT: el
tamaño de bloque (8/32/128), las capas (1/2/4) o las cabezas (1/4).

Las filas BPE son ese mismo GPT (mismas capas, cabezas, n_embd y block_size) con otro
tokenizador: 256 (solo bytes), 512 y 1024 tokens. Entrenan los mismos pasos con los mismos
lotes, es decir, ven el mismo número de tokens: así cada paso cuesta casi lo mismo (solo crece
la capa de salida) y lo que cambia es cuánto texto lleva cada token. La comparación honesta es
la de los bits por carácter (nunca la pérdida por token) frente al tiempo de entrenamiento.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from trainer.settings import TrainSettings


@dataclass(frozen=True)
class Profile:
    """Tamaño de la comparación: la completa (la de la semilla) o la rápida (--quick)."""

    name: str
    max_steps: int
    batch_size: int
    n_embd: int
    eval_interval: int
    eval_iters: int
    sample_chars: int
    gpt_lr: float | None = None  # None = la del proyecto (config.DEFAULT_LR)
    temperatures: tuple[float, ...] = (0.5, 1.0, 1.5)
    top_ks: tuple[int, ...] = (0, 5)


# La completa entrena con los valores por defecto del entrenador (los de `make train`).
_SEED = {f.name: f.default for f in fields(TrainSettings)}
FULL = Profile("completa", max_steps=_SEED["max_steps"], batch_size=_SEED["batch_size"],
               n_embd=_SEED["n_embd"], eval_interval=_SEED["eval_interval"],
               eval_iters=_SEED["eval_iters"], sample_chars=200)  # fmt: skip
# Para clase: todo el conjunto en cerca de un minuto de CPU. Con tan pocos pasos, el GPT usa una
# tasa de aprendizaje mayor para llegar a algo (con la normal apenas sale del ruido).
QUICK = Profile("rápida", max_steps=200, batch_size=16, n_embd=64, eval_interval=25,
                eval_iters=8, sample_chars=120, gpt_lr=5e-3)  # fmt: skip

BASE_GPT = {name: _SEED[name] for name in ("block_size", "n_layer", "n_head")}


def adjusted(profile: Profile, max_steps: int | None, sample_chars: int | None) -> Profile:
    """El perfil con los pasos o la longitud de las muestras cambiados desde la CLI."""
    changes: dict[str, Any] = {}
    if max_steps is not None:
        changes["max_steps"] = max_steps
        changes["eval_interval"] = max(1, min(profile.eval_interval, max_steps // 4))
    if sample_chars is not None:
        changes["sample_chars"] = sample_chars
    return replace(profile, **changes)


@dataclass(frozen=True)
class Sweep:
    """Un eje del barrido: qué ajuste cambia y qué ejecución da cada valor."""

    setting: str  # campo de TrainSettings
    title: str
    short: str  # para las etiquetas: "GPT bloque 8"
    points: tuple[tuple[int, str], ...]  # (valor, nombre de la ejecución)


SWEEPS = (
    Sweep("block_size", "Tamaño de bloque (contexto)", "bloque",
          ((8, "gpt-bloque8"), (32, "gpt-bloque32"), (128, "gpt"))),
    Sweep("n_layer", "Capas (bloques transformer)", "capas",
          ((1, "gpt-capas1"), (2, "gpt"), (4, "gpt-capas4"))),
    Sweep("n_head", "Cabezas de atención", "cabezas", ((1, "gpt-cabezas1"), (4, "gpt"))),
)  # fmt: skip


# Tamaños del vocabulario BPE que se comparan (256 = solo los bytes, sin fusiones).
BPE_VOCAB_SIZES = (256, 512, 1024)


@dataclass(frozen=True)
class RunSpec:
    name: str  # también el nombre de los ficheros: letras, números y guiones
    label: str  # para leyendas y tablas
    model: str
    overrides: dict[str, Any] = field(default_factory=dict)


def build_plan() -> list[RunSpec]:
    """Bigrama, el GPT de la semilla, cada punto del barrido que no sea ese mismo GPT y el GPT
    de la semilla con tokens BPE."""
    specs = [RunSpec("bigrama", "bigrama", "bigram"), RunSpec("gpt", "GPT (semilla)", "gpt")]
    for sweep in SWEEPS:
        for value, name in sweep.points:
            if name == "gpt":
                continue
            label = f"GPT {sweep.short} {value}"
            specs.append(RunSpec(name, label, "gpt", {sweep.setting: value}))
    for size in BPE_VOCAB_SIZES:
        label = "GPT bytes (BPE 256)" if size == 256 else f"GPT BPE {size}"
        specs.append(
            RunSpec(f"gpt-bpe{size}", label, "gpt", {"tokenizer": "bpe", "vocab_size": size})
        )
    return specs


def settings_for(
    spec: RunSpec, profile: Profile, data: str, device: str, seed: int, runs_dir: str
) -> TrainSettings:
    gpt = spec.model == "gpt"
    values: dict[str, Any] = {
        "model": spec.model,
        "data": data,
        "max_steps": profile.max_steps,
        "batch_size": profile.batch_size,
        "block_size": BASE_GPT["block_size"],
        "eval_interval": profile.eval_interval,
        "eval_iters": profile.eval_iters,
        "device": device,
        "seed": seed,
        "checkpoint_dir": runs_dir,
    }
    if gpt:
        values.update(n_embd=profile.n_embd, n_layer=BASE_GPT["n_layer"], n_head=BASE_GPT["n_head"])
        values["lr"] = profile.gpt_lr
    values.update(spec.overrides)
    settings = TrainSettings(**values, run_name=spec.name)
    settings.validate()
    return settings

"""Nombres y formas de los pesos de cada modelo, deducidos de su configuración sin construirlo.

Construir el modelo para mirarlo reservaría su memoria (o, en el dispositivo ``meta``, tardaría
segundos en importar ``torch._dynamo``). Con estas listas se valida un checkpoint y se estima la
memoria antes de reservar nada. Reflejan ``shared/transformer_model.py`` y
``shared/bigram_model.py``: ``tests/test_memory_budget.py`` comprueba que coinciden con el
``state_dict()`` y el optimizador de los modelos de verdad.
"""

from __future__ import annotations

import math

from shared.config import BigramConfig, GPTConfig, ModelConfig

Shape = tuple[int, ...]
# La capa de salida del GPT comparte su matriz con el embedding de tokens (un solo parámetro).
TIED = {"lm_head.weight": "tok_emb.weight"}


def _linear(name: str, n_in: int, n_out: int, bias: bool) -> list[tuple[str, Shape]]:
    out = [(f"{name}.weight", (n_out, n_in))]
    return out + [(f"{name}.bias", (n_out,))] if bias else out


def _layer_norm(name: str, n: int, bias: bool) -> list[tuple[str, Shape]]:
    out = [(f"{name}.weight", (n,))]
    return out + [(f"{name}.bias", (n,))] if bias else out


def weight_shapes(config: ModelConfig) -> dict[str, Shape]:
    """Lo que debe tener el ``state_dict`` del modelo, en su orden."""
    if isinstance(config, BigramConfig):
        return {"logits_table.weight": (config.vocab_size, config.vocab_size)}
    assert isinstance(config, GPTConfig)
    c, bias = config.n_embd, config.bias
    items: list[tuple[str, Shape]] = [
        ("tok_emb.weight", (config.vocab_size, c)),
        ("pos_emb.weight", (config.block_size, c)),
    ]
    for i in range(config.n_layer):
        p = f"blocks.{i}"
        items += _layer_norm(f"{p}.ln1", c, bias)
        items += _linear(f"{p}.attn.qkv", c, 3 * c, bias)
        items += _linear(f"{p}.attn.proj", c, c, bias)
        items += _layer_norm(f"{p}.ln2", c, bias)
        items += _linear(f"{p}.mlp.fc", c, 4 * c, bias)
        items += _linear(f"{p}.mlp.proj", 4 * c, c, bias)
    items += _layer_norm("ln_f", c, bias)
    items.append(("lm_head.weight", (config.vocab_size, c)))
    return dict(items)


def parameter_shapes(config: ModelConfig) -> list[Shape]:
    """Los parámetros distintos, en el orden de ``model.parameters()`` (sin los compartidos)."""
    return [shape for name, shape in weight_shapes(config).items() if name not in TIED]


def optimizer_group_shapes(config: ModelConfig) -> list[list[Shape]]:
    """Los grupos de AdamW que da ``optimizer_groups`` de cada modelo, en su orden."""
    shapes = parameter_shapes(config)
    if isinstance(config, BigramConfig):
        return [shapes]
    # GPT: weight decay en matrices; sesgos y LayerNorm aparte.
    return [[s for s in shapes if len(s) >= 2], [s for s in shapes if len(s) < 2]]


def numel(shape: Shape) -> int:
    return math.prod(shape)


def count_parameters(config: ModelConfig) -> int:
    """Cuántos parámetros tiene el modelo (los compartidos, una vez), sin construirlo.

    El único contador del proyecto: lo usan el registro del entrenador, la comparación de
    ejecuciones, el servidor (``parameters``), el bench y la estimación de memoria.
    """
    return sum(numel(shape) for shape in parameter_shapes(config))

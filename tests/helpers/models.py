"""El GPT «afilado» de las pruebas: pesos al azar grandes, atención picuda y logits que dependen
mucho del contexto. Con un GPT recién iniciado (pesos pequeños) la atención es casi uniforme y
el siguiente carácter casi no depende de lo anterior: una caché con posiciones viejas, o una
consulta que solo se mira a sí misma, darían el mismo texto y la prueba no lo vería."""

from __future__ import annotations

import torch

from shared.config import GPTConfig
from shared.transformer_model import GPT


def sharp_gpt(vocab_size: int, seed: int = 0, std: float = 0.4, **config: object) -> GPT:
    """GPT pequeño (``config`` cambia block_size, n_embd, n_head, n_layer o attention) con todos
    sus pesos de una normal de desviación ``std``, en modo evaluación."""
    torch.manual_seed(seed)
    shape: dict[str, object] = dict(block_size=16, n_embd=32, n_head=4, n_layer=2)
    model = GPT(GPTConfig(vocab_size=vocab_size, **{**shape, **config}))  # type: ignore[arg-type]
    with torch.no_grad():
        for p in model.parameters():
            torch.nn.init.normal_(p, std=std)
    return model.eval()

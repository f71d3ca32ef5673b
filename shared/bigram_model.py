"""Modelo bigrama: predice el siguiente carácter mirando solo el actual.

Es una tabla ``vocab × vocab`` de logits: la fila del carácter actual da las puntuaciones del
siguiente. Es el punto de partida con el que comparar el GPT.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.config import BigramConfig


class BigramLanguageModel(nn.Module):
    model_type = "bigram"

    def __init__(self, config: BigramConfig) -> None:
        super().__init__()
        self.config = config
        # Empezamos en cero: todas las letras igual de probables (distribución uniforme).
        self.logits_table = nn.Embedding(config.vocab_size, config.vocab_size)
        nn.init.zeros_(self.logits_table.weight)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``idx`` (B, T) → logits (B, T, vocab): la fila de la tabla de cada carácter."""
        logits = self.logits_table(idx)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def optimizer_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Un solo grupo para AdamW: la tabla entera.

        Por defecto el entrenador no le pone weight decay: empujaría la tabla hacia la uniforme
        y alejaría al bigrama de las frecuencias reales del texto.
        """
        return [{"params": list(self.parameters()), "weight_decay": weight_decay}]

"""Modelo bigrama: predice el siguiente carácter mirando solo el actual.

Es una tabla ``vocab × vocab`` de logits: la fila del carácter actual da las puntuaciones del
siguiente. Es el punto de partida con el que comparar el GPT.
"""

from __future__ import annotations

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
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: object | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``idx`` (B, T) → logits (B, T, vocab). ``kv_cache`` se ignora: no hay contexto."""
        logits = self.logits_table(idx)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def configure_optimizers(
        self,
        weight_decay: float,
        learning_rate: float,
        betas: tuple[float, float],
        device_type: str,
    ) -> torch.optim.Optimizer:
        # Sin weight decay por defecto: empujaría la tabla hacia la uniforme y alejaría al
        # bigrama de las frecuencias reales del texto.
        return torch.optim.AdamW(
            self.parameters(), lr=learning_rate, betas=betas, weight_decay=weight_decay
        )

    def flops_per_token(self) -> float:
        return 0.0

"""Una implementación directa del mismo mini GPT, tal como se escribe en una primera clase.

Sirve solo para comparar velocidades en el benchmark: misma arquitectura (pre-LN, GELU, pesos
compartidos entre embedding y salida, mismos tamaños y número de parámetros), pero escrita sin
ninguna optimización: cada cabeza es un módulo con sus tres ``nn.Linear``, la atención se hace
a mano (matriz T×T, máscara, softmax) y AdamW usa su bucle por defecto, tensor a tensor.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.config import GPTConfig


class Head(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.key = nn.Linear(config.n_embd, config.head_dim)
        self.query = nn.Linear(config.n_embd, config.head_dim)
        self.value = nn.Linear(config.n_embd, config.head_dim)
        self.register_buffer("tril", torch.tril(torch.ones(config.block_size, config.block_size)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.size(1)
        k, q, v = self.key(x), self.query(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
        wei = wei.masked_fill(self.tril[:t, :t] == 0, float("-inf"))
        return F.softmax(wei, dim=-1) @ v


class MultiHeadAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.heads = nn.ModuleList(Head(config) for _ in range(config.n_head))
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        c = config.n_embd
        self.ln1 = nn.LayerNorm(c)
        self.sa = MultiHeadAttention(config)
        self.ln2 = nn.LayerNorm(c)
        self.ffwd = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class ReferenceGPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.Sequential(*(Block(config) for _ in range(config.n_layer)))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device))
        logits = self.lm_head(self.ln_f(self.blocks(x)))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def reference_step(
    model: ReferenceGPT, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> float:
    """Un paso de entrenamiento con el mismo trabajo que el del entrenador (recorte incluido)."""
    loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


def build_reference(config: GPTConfig) -> tuple[ReferenceGPT, torch.optim.Optimizer]:
    model = ReferenceGPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    return model, optimizer

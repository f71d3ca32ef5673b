"""Mini GPT desde cero: embeddings, bloques pre-LN con atención causal multi-cabeza, MLP.

Se lee de arriba abajo como una lección: ``CausalSelfAttention`` → ``MLP`` → ``Block`` → ``GPT``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.config import GPTConfig
from shared.kv_cache import KVCache


def dropout_layer(p: float) -> nn.Module:
    """Dropout solo si p > 0: con p = 0 sería una capa que no hace nada y que aun así se llama
    en cada pasada; ``nn.Identity`` lo dice al imprimir el modelo y no cuesta nada."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


class CausalSelfAttention(nn.Module):
    """Cada posición mira a las anteriores (y a sí misma), nunca a las futuras."""

    def __init__(self, config: GPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.layer_idx = layer_idx
        self.use_sdpa = config.attention == "sdpa"
        self.dropout = config.dropout
        # Una sola proyección produce consultas (q), claves (k) y valores (v) a la vez.
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = dropout_layer(config.dropout)
        self.resid_dropout = dropout_layer(config.dropout)
        # La máscara causal: triangular inferior. mask[i, j] es True si la posición i puede ver j.
        mask = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("mask", mask, persistent=False)
        # Con record_weights, la atención explícita guarda aquí sus pesos (B, H, T, T') tras el
        # softmax: qué fracción de su atención da cada posición a cada una de las anteriores.
        self.record_weights = False
        self.weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        # (B, T, C) → (B, H, T, D): cada cabeza trabaja con su trozo de D = C / H dimensiones.
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        offset = 0
        if kv_cache is not None:
            # Con caché, las t consultas nuevas miran también a todo lo guardado antes.
            offset = kv_cache.pos
            k, v = kv_cache.append(self.layer_idx, k, v)
        # Filas: las t consultas nuevas (posiciones offset..offset+t-1); columnas: todas las claves.
        mask = self.mask[offset : offset + t, : offset + t]
        dropout_p = self.dropout if self.training else 0.0
        if self.use_sdpa and not self.record_weights:
            y = self._attention_sdpa(q, k, v, mask, dropout_p)
        else:
            y = self._attention_explicit(q, k, v, mask)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.resid_dropout(self.proj(y))

    def _attention_explicit(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        # Parecido entre consulta y clave. Dividimos por sqrt(D) para que la varianza del producto
        # no crezca con D: si no, el softmax se satura y casi todo el peso va a una sola posición.
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        # El futuro se tapa con -inf: tras el softmax su peso es exactamente 0.
        att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        if self.record_weights:
            self.weights = att.detach()
        att = self.attn_dropout(att)
        return att @ v  # media ponderada de los valores

    @staticmethod
    def _attention_sdpa(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, dropout_p: float
    ) -> torch.Tensor:
        # La misma cuenta que _attention_explicit, en un núcleo fusionado de PyTorch. Sin caché
        # (o con la caché vacía), la máscara es la triangular de siempre: is_causal la aplica sin
        # construirla. Con consultas a partir de una posición > 0, se pasa el trozo de máscara.
        if mask.size(0) == mask.size(1):
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


class MLP(nn.Module):
    """Red de dos capas aplicada a cada posición por separado: aquí el modelo "piensa"."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = dropout_layer(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Bloque pre-LN: normalizar → atención → sumar; normalizar → MLP → sumar."""

    def __init__(self, config: GPTConfig, layer_idx: int) -> None:
        super().__init__()
        # LayerNorm deja cada vector con media 0 y varianza 1 (más escala y sesgo aprendidos):
        # así la escala de las activaciones no se dispara al apilar capas.
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        # Conexiones residuales: x + f(x). El gradiente tiene un camino directo hasta la entrada,
        # y cada bloque solo aprende una corrección de lo que ya había.
        x = x + self.attn(self.ln1(x), kv_cache)
        x = x + self.mlp(self.ln2(x))
        return x


class GPT(nn.Module):
    model_type = "gpt"

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)  # qué carácter es
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)  # en qué posición está
        self.drop = dropout_layer(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Pesos compartidos entre la entrada y la salida: el mismo vector representa un carácter
        # al leerlo y al predecirlo (menos parámetros, suele aprender mejor).
        self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # Las proyecciones que escriben en el camino residual empiezan más pequeñas: con n_layer
        # bloques sumando, la varianza del residual crecería con la profundidad.
        for name, param in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``idx`` (B, T) → logits (B, T, vocab) y, si hay ``targets``, la pérdida media."""
        _, t = idx.shape
        start = kv_cache.pos if kv_cache is not None else 0
        if start + t > self.config.block_size:
            raise ValueError(
                f"la secuencia ({start + t}) supera block_size ({self.config.block_size})."
            )
        pos = torch.arange(start, start + t, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(t)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

    def new_kv_cache(
        self, batch_size: int, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> KVCache:
        """Una caché vacía para ``batch_size`` secuencias de hasta ``block_size`` posiciones."""
        c = self.config
        shape = (c.n_layer, batch_size, c.n_head, c.block_size, c.head_dim)
        k = torch.zeros(shape, device=device, dtype=dtype)
        return KVCache(k, torch.zeros_like(k))

    def optimizer_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Los grupos de parámetros para AdamW: weight decay solo en las matrices.

        El decay empuja los pesos hacia 0 y así regulariza las matrices (pesos de Linear y
        Embedding), que son casi todos los parámetros. Los sesgos y LayerNorm se quedan fuera:
        son pocos y el decay solo los alejaría de sus valores útiles (la escala 1 de LayerNorm).
        """
        params = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]

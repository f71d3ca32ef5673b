"""Un paso de generación con caché KV: la cuenta del GPT para un solo carácter nuevo.

Es la misma cuenta que ``GPT.forward`` con caché (embeddings → bloques → LayerNorm final →
logits), escrita para el caso que más se repite al generar: una consulta que mira a toda su
caché. Con caché, cada carácter lee todos los pesos para hacer muy pocas cuentas, así que el
paso tarda pocos milisegundos y lo que cuesta llamar a cada capa pesa: aquí las capas se usan
como funciones (``F.layer_norm``, ``bmm``), sin ``nn.Module.__call__``, sin máscara (el carácter
nuevo puede ver todo lo anterior) y sin capas de dropout (al generar no hacen nada).

``shared/batched_generation.py`` usa estas mismas funciones con varias filas a la vez; por eso
el texto de una fila del lote es, bit a bit, el de esa fila generada sola.
"""

from __future__ import annotations

import math
import weakref

import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.kv_cache import KVCache
from shared.transformer_model import GPT, CausalSelfAttention

# Los pesos traspuestos (1, entrada, salida) de cada capa, hechos una vez: ``t()`` y
# ``unsqueeze`` no copian nada, pero son dos llamadas a PyTorch por capa y paso (3-5 % del paso).
_TRANSPOSED: weakref.WeakKeyDictionary[nn.Linear, torch.Tensor] = weakref.WeakKeyDictionary()


def _transposed(layer: nn.Linear) -> torch.Tensor:
    view = _TRANSPOSED.get(layer)
    # Si los pesos se han movido (``model.to(...)``), la vista vieja apuntaría a otra memoria.
    if (
        view is None
        or view.data_ptr() != layer.weight.data_ptr()
        or view.dtype != layer.weight.dtype
    ):
        view = _TRANSPOSED[layer] = layer.weight.detach().t().unsqueeze(0)
    return view


def linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` para x (B, 1, C), cada fila con el núcleo que usaría ella sola.

    ``bmm`` con el peso "expandido" (una vista, sin copias): una multiplicación de varias filas a
    la vez usaría otro núcleo que redondea distinto en el último bit.
    """
    weight = _transposed(layer)
    if x.size(0) > 1:
        weight = weight.expand(x.size(0), -1, -1)
    if layer.bias is None:
        return torch.bmm(x, weight)
    return torch.baddbmm(layer.bias, x, weight)


def norm(layer: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` sin pasar por ``nn.Module.__call__``."""
    return F.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)


def attend(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Atención de consultas (N, 1, D) sobre claves y valores (N, L, D), sin máscara.

    La de ``CausalSelfAttention._attention_manual`` con ``bmm`` directamente: la consulta es el
    carácter más reciente y puede ver todas las posiciones de la caché.
    """
    scale = 1.0 / math.sqrt(queries.size(-1))
    att = torch.bmm(queries, keys.transpose(-2, -1)).mul_(scale)
    return torch.bmm(torch.softmax(att, dim=-1), values)


def mlp(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """La segunda mitad del bloque: ``ln2`` y la MLP (``MLP.forward`` sin dropout)."""
    return linear(block.mlp.proj, F.gelu(linear(block.mlp.fc, norm(block.ln2, x))))


def _self_attention(
    attn: CausalSelfAttention, x: torch.Tensor, cache: KVCache, pos: int
) -> torch.Tensor:
    h, d = attn.n_head, attn.head_dim
    # (1, 1, 3C) → q, k, v de (H, 1, D): una consulta, una clave y un valor por cabeza.
    q, k, v = linear(attn.qkv, x).view(3, h, 1, d).unbind(0)
    # La clave y el valor del carácter nuevo, a su posición de la caché; luego, todo lo guardado.
    keys, values = cache.k[attn.layer_idx, 0], cache.v[attn.layer_idx, 0]  # (H, max_len, D)
    keys[:, pos] = k[:, 0]
    values[:, pos] = v[:, 0]
    keys, values = keys[:, : pos + 1], values[:, : pos + 1]
    if keys.dtype != q.dtype:
        keys, values = keys.to(q.dtype), values.to(q.dtype)
    y = attend(q, keys, values)  # (H, 1, D)
    return linear(attn.proj, y.view(1, 1, h * d))


@torch.inference_mode()
def decode_one(model: GPT, token_id: int, cache: KVCache) -> torch.Tensor:
    """Mete ``token_id`` en la posición ``cache.pos`` y devuelve los logits (vocab,) del siguiente.

    Lote 1. Da los mismos logits que ``model(ids, kv_cache=cache)`` con un solo carácter, salvo
    el redondeo (otros núcleos para las mismas cuentas; ``tests/test_speed_kv_cache.py``).
    """
    pos = cache.pos
    cache.room_for(1)
    # Qué carácter es + en qué posición está, como en GPT.forward. (1, 1, C)
    x = (model.tok_emb.weight[token_id] + model.pos_emb.weight[pos]).view(1, 1, -1)
    for block in model.blocks:
        x = x + _self_attention(block.attn, norm(block.ln1, x), cache, pos)
        x = x + mlp(block, x)
    cache.advance(1)
    return linear(model.lm_head, norm(model.ln_f, x))[0, 0]

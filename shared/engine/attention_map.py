"""Qué mira cada cabeza de atención: los pesos del softmax para un texto concreto.

No es otra implementación de la atención: pasa el texto por ``GPT.forward`` con
``record_weights`` encendido en cada ``CausalSelfAttention``, de modo que la cuenta que se ve es
la atención explícita de ``shared/transformer_model.py`` (la misma que lee el alumno), y cada
capa guarda su matriz (B, H, T, T) tras el softmax. Luego se apaga otra vez y se sueltan los
tensores, para que el modelo quede como estaba.

``chars`` son las etiquetas de los tokens del texto: con caracteres, los caracteres; con BPE,
cada token como texto visible (``·`` el espacio, ``<0xC3>`` un byte suelto).
``layers[l][h][i][j]`` es la fracción de atención que la consulta i (el token i del texto)
da a la clave j, en la cabeza h de la capa l. Cada fila suma 1 y todo lo que está por encima
de la diagonal (el futuro) vale 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shared.checkpoints.models import LanguageModel, Tokenizer
from shared.common.errors import LLMError
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT, CausalSelfAttention


class AttentionMapError(LLMError):
    """El modelo no tiene atención (bigrama), o el texto no sirve."""


@dataclass(frozen=True)
class AttentionMap:
    chars: list[str]
    layers: list[list[list[list[float]]]]  # [capa][cabeza][consulta][clave]

    @property
    def n_layer(self) -> int:
        return len(self.layers)

    @property
    def n_head(self) -> int:
        return len(self.layers[0]) if self.layers else 0


def attention_modules(model: GPT) -> list[CausalSelfAttention]:
    return [block.attn for block in model.blocks]  # type: ignore[misc]


def attention_weights(model: GPT, idx: torch.Tensor) -> list[torch.Tensor]:
    """Los pesos (B, H, T, T) de cada capa para ``idx`` (B, T), con la atención explícita."""
    modules = attention_modules(model)
    try:
        for m in modules:
            m.record_weights = True
            m.weights = None
        with torch.inference_mode():
            model(idx)
        found = [m.weights for m in modules]
    finally:
        for m in modules:
            m.record_weights = False
            m.weights = None
    if any(w is None for w in found):
        # Una atención cambiada desde fuera (otra clase con otro forward) podría no guardarlos.
        raise AttentionMapError("el modelo no usó la atención explícita: no hay pesos que mostrar.")
    return [w for w in found if w is not None]


def attention_map(model: LanguageModel, tokenizer: Tokenizer, prompt: str) -> AttentionMap:
    """Los pesos de atención de cada capa y cabeza para los tokens de ``prompt``."""
    if not isinstance(model, GPT):
        raise AttentionMapError(
            "el modelo bigrama no tiene atención: cada carácter solo mira al anterior, a través "
            "de una tabla. Elige un checkpoint GPT para ver el mapa de atención."
        )
    if not prompt:
        raise AttentionMapError("el texto está vacío: hace falta al menos un carácter.")
    if isinstance(tokenizer, CharTokenizer) and len(prompt) > model.block_size:
        raise AttentionMapError(
            f"el texto tiene {len(prompt)} caracteres y el modelo solo mira {model.block_size} "
            "(block_size): acórtalo."
        )
    ids = tokenizer.encode(prompt)  # TokenizerError si hay caracteres desconocidos
    if len(ids) > model.block_size:
        raise AttentionMapError(
            f"el texto tiene {len(ids)} tokens y el modelo solo mira {model.block_size} "
            "(block_size): acórtalo."
        )
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    weights = attention_weights(model, idx)
    layers = [w[0].float().cpu().tolist() for w in weights]
    return AttentionMap(chars=[tokenizer.token_text(i) for i in ids], layers=layers)

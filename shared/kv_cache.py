"""Caché de claves y valores (KV cache) para generar con el GPT sin recalcular el pasado.

Al generar, cada carácter nuevo solo necesita su propia consulta (q); las claves (k) y los
valores (v) de los caracteres anteriores no cambian, así que los guardamos aquí en vez de
recalcularlos en cada paso. El estado de la inferencia vive fuera del modelo: el modelo la
recibe en ``forward`` si se la dan (``GPT.new_kv_cache`` crea una vacía del tamaño justo).
"""

from __future__ import annotations

import torch


class KVCache:
    """Las claves y los valores de todas las capas, en dos tensores que se van llenando.

    ``k`` y ``v`` tienen forma (n_layer, B, H, max_len, D): capa, fila del lote, cabeza,
    posición y dimensión de la cabeza. La caché empieza vacía (``pos = 0``) sobre ellos.
    """

    def __init__(self, k: torch.Tensor, v: torch.Tensor) -> None:
        self.k = k
        self.v = v
        self.max_len = k.size(3)
        self.pos = 0  # cuántas posiciones hay ya guardadas

    def append(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Guarda k, v (B, H, T, D) de una capa y devuelve todas las claves/valores hasta ahora."""
        end = self.pos + k.size(2)
        if end > self.max_len:
            raise ValueError(f"la caché KV está llena ({end} > {self.max_len}).")
        self.k[layer, :, :, self.pos : end] = k.to(self.k.dtype)
        self.v[layer, :, :, self.pos : end] = v.to(self.v.dtype)
        return (
            self.k[layer, :, :, :end].to(k.dtype),
            self.v[layer, :, :, :end].to(v.dtype),
        )

    def advance(self, t: int) -> None:
        """Se llama una vez por pasada, cuando todas las capas han guardado sus ``t`` posiciones."""
        self.pos += t

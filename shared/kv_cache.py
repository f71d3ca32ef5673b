"""Caché de claves y valores (KV cache) para generar con el GPT sin recalcular el pasado.

Al generar, cada carácter nuevo solo necesita su propia consulta (q); las claves (k) y los
valores (v) de los caracteres anteriores no cambian, así que los guardamos aquí en vez de
recalcularlos en cada paso. El estado de la inferencia vive fuera del modelo.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        head_dim: int,
        max_len: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (n_layer, batch_size, n_head, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.pos = 0  # cuántas posiciones hay ya guardadas

    @classmethod
    def over(cls, k: torch.Tensor, v: torch.Tensor) -> KVCache:
        """Una caché vacía sobre tensores ya reservados (n_layer, B, H, max_len, D), sin copiarlos.

        Sirve para que varias generaciones guarden sus claves y valores en un mismo almacén
        (ver shared/batched_generation.py): cada una recibe una vista de su fila.
        """
        cache = cls.__new__(cls)
        cache.k, cache.v, cache.max_len, cache.pos = k, v, k.size(3), 0
        return cache

    def reset(self) -> None:
        self.pos = 0

    def append(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Guarda k, v (B, H, T, D) de una capa y devuelve todas las claves/valores hasta ahora."""
        end = self.room_for(k.size(2))
        self.k[layer, :, :, self.pos : end] = k.to(self.k.dtype)
        self.v[layer, :, :, self.pos : end] = v.to(self.v.dtype)
        return (
            self.k[layer, :, :, :end].to(k.dtype),
            self.v[layer, :, :, :end].to(v.dtype),
        )

    def room_for(self, t: int) -> int:
        """Dónde acabarán ``t`` posiciones nuevas; error claro si no caben en la caché."""
        end = self.pos + t
        if end > self.max_len:
            raise ValueError(f"la caché KV está llena ({end} > {self.max_len}).")
        return end

    def advance(self, t: int) -> None:
        """Se llama una vez por pasada, cuando todas las capas han guardado sus ``t`` posiciones."""
        self.pos += t

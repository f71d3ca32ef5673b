"""Caché de claves y valores (KV cache) para generar con el GPT sin recalcular el pasado.

Al generar, cada carácter nuevo solo necesita su propia consulta (q); las claves (k) y los
valores (v) de los caracteres anteriores no cambian, así que los guardamos aquí en vez de
recalcularlos en cada paso. El estado de la inferencia vive fuera del modelo.

``KVSlots`` es el almacén del motor de inferencia (shared/engine/batch.py): las cachés de muchas
generaciones a la vez, un hueco por generación.
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


class KVSlots:
    """Las cachés de muchas filas en un almacén (n_layer, huecos, H, max_len, D) que crece al doble.

    Cada fila ocupa un hueco; ``cache(slot)`` es una ``KVCache`` vacía sobre ese hueco (una
    vista, sin copiar), para leer el prompt con la pasada normal del modelo.
    """

    def __init__(
        self, n_layer: int, n_head: int, head_dim: int, max_len: int, device: torch.device
    ) -> None:
        self._dims = (n_layer, n_head, max_len, head_dim)
        self.device = device
        self.k = self.v = torch.zeros((n_layer, 0, n_head, max_len, head_dim), device=device)
        self.free: list[int] = []

    def acquire(self) -> int:
        """Un hueco libre, el más bajo (las filas vivas quedan al principio del almacén)."""
        if not self.free:
            old = self.k.size(1)
            n_layer, h, t, d = self._dims
            # float32, como la caché de una fila sola: así las claves guardadas son las mismas.
            k = torch.zeros((n_layer, max(1, 2 * old), h, t, d), device=self.device)
            v = torch.zeros_like(k)
            k[:, :old], v[:, :old] = self.k, self.v
            self.k, self.v = k, v
            self.free.extend(range(old, k.size(1)))
        slot = min(self.free)
        self.free.remove(slot)
        return slot

    def release(self, slot: int) -> None:
        self.free.append(slot)

    def cache(self, slot: int) -> KVCache:
        cache = KVCache.__new__(KVCache)
        cache.k, cache.v = self.k[:, slot : slot + 1], self.v[:, slot : slot + 1]
        cache.max_len, cache.pos = self.k.size(3), 0
        return cache

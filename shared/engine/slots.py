"""El almacén de cachés KV del motor: las de muchas generaciones a la vez, un hueco por fila."""

from __future__ import annotations

import torch

from shared.kv_cache import KVCache


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
        """Una caché vacía de una fila cuyo almacenamiento es el hueco ``slot``."""
        return KVCache(self.k[:, slot : slot + 1], self.v[:, slot : slot + 1])

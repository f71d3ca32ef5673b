"""Varias generaciones a la vez sobre el mismo modelo: cada paso da un carácter a cada una.

El servidor junta en un lote las peticiones simultáneas de un worker. Cada fila conserva sus
ajustes, su propio generador aleatorio y su ventana de contexto (``ContextWindow``: el mismo
recorte del prompt y el mismo salto a la última mitad al llenar ``block_size``), así que su texto
es el que daría ``stream_generate`` con esa fila sola. Lo único compartido es la pasada del
modelo: una por paso para todas las filas, en vez de una por fila.

Para que los logits salgan idénticos, bit a bit, a los de la generación en solitario:

- Cada paso usa las funciones de ``shared/decoding.py``, las mismas que la generación en
  solitario con caché. Las capas lineales se calculan con ``bmm`` y el peso "expandido": cada
  fila usa el mismo núcleo que una fila sola. Una multiplicación de varias filas a la vez usa
  otro núcleo que redondea distinto en el último bit, y eso, muy de vez en cuando, cambiaría un
  carácter sorteado.
- La atención se calcula junta solo para las filas con la misma longitud de contexto. Rellenar
  las más cortas con ceros y enmascararlas alargaría las sumas del softmax y cambiaría, otra
  vez, el último bit.
- La primera pasada de cada fila (leer el prompt) y la que sigue a un salto de ventana se hacen
  con la pasada normal del modelo, fila a fila, como en ``stream_generate``.

Las claves y valores de todas las filas viven en un almacén común (``_KVPool``); cada fila
tiene una vista de su hueco, que es lo que recibe el modelo como caché.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from shared.batched_sampling import sample_many
from shared.decoding import attend, linear, mlp, norm
from shared.generation import ContextWindow, GeneratedChar, generated_char, prompt_ids
from shared.kv_cache import KVCache
from shared.models import LanguageModel
from shared.sampling import SamplingParams, make_generator
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT


@dataclass(eq=False)  # cada fila es única: se compara (y se usa como clave) por identidad
class BatchRow:
    """Una generación dentro del lote."""

    params: SamplingParams
    window: ContextWindow
    generator: torch.Generator
    slot: int | None  # su hueco en el almacén de caché (None: sin caché)
    produced: int = 0

    @property
    def done(self) -> bool:
        return self.produced >= self.params.max_new_tokens


class _KVPool:
    """Caché KV de muchas filas: (n_layer, huecos, H, block_size, D); crece al doble si se llena."""

    def __init__(self, model: GPT, device: torch.device, slots: int = 4) -> None:
        c = model.config
        self._dims = (c.n_layer, c.n_head, c.block_size, c.head_dim)
        self.device = device
        self.k = torch.empty(0)
        self.v = torch.empty(0)
        self.free: list[int] = []
        self._grow(slots)

    @property
    def slots(self) -> int:
        return self.k.size(1)

    def _grow(self, slots: int) -> None:
        n_layer, h, t, d = self._dims
        # float32, como la caché de una fila sola (KVCache): así las claves son las mismas.
        k = torch.zeros((n_layer, slots, h, t, d), device=self.device)
        v = torch.zeros_like(k)
        old = self.k.size(1) if self.k.dim() == 5 else 0
        if old:
            k[:, :old] = self.k
            v[:, :old] = self.v
        self.k, self.v = k, v
        self.free.extend(range(old, slots))

    def acquire(self) -> tuple[int, bool]:
        """Un hueco libre y si el almacén ha crecido (y hay que rehacer las vistas)."""
        grew = not self.free
        if grew:
            self._grow(2 * self.slots)
        slot = min(self.free)  # el más bajo: las filas vivas quedan al principio del almacén
        self.free.remove(slot)
        return slot, grew

    def release(self, slot: int) -> None:
        self.free.append(slot)

    def cache_for(self, slot: int) -> KVCache:
        return KVCache.over(self.k[:, slot : slot + 1], self.v[:, slot : slot + 1])


class BatchedGeneration:
    """Las filas que avanzan juntas sobre un modelo. No es seguro entre hilos: un hilo la usa."""

    def __init__(
        self, model: LanguageModel, tokenizer: CharTokenizer, device: torch.device | None = None
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = device or next(model.parameters()).device
        self.is_gpt = isinstance(model, GPT)
        self._pool = _KVPool(model, self.device) if isinstance(model, GPT) else None
        self.rows: list[BatchRow] = []

    def add(self, prompt: str, params: SamplingParams) -> BatchRow:
        """Una fila nueva; da su primer carácter en el próximo ``step``."""
        params.validate()
        # La ventana decide qué contexto ve la fila; su caché no es propia sino la vista de su
        # hueco en el almacén común (se crea sin caché y se le pone esa vista).
        window = ContextWindow(
            self.model, prompt_ids(self.tokenizer, prompt), self.device, use_cache=False
        )
        slot = None
        if self._pool is not None and params.use_cache:
            slot, grew = self._pool.acquire()
            if grew:  # tensores nuevos: cada fila necesita la vista de su hueco en ellos
                for other in self.rows:
                    if other.slot is not None:
                        self._rebind(other)
            window.cache = self._pool.cache_for(slot)
        row = BatchRow(params, window, make_generator(params.seed), slot)
        self.rows.append(row)
        return row

    def _rebind(self, row: BatchRow) -> None:
        assert self._pool is not None and row.slot is not None and row.window.cache is not None
        row.window.cache.k = self._pool.k[:, row.slot : row.slot + 1]
        row.window.cache.v = self._pool.v[:, row.slot : row.slot + 1]

    def remove(self, row: BatchRow) -> None:
        """Saca la fila (terminada o abandonada) y libera su hueco."""
        self.rows.remove(row)
        if self._pool is not None and row.slot is not None:
            self._pool.release(row.slot)

    def _in_batch(self, row: BatchRow) -> bool:
        # Primera pasada, tras un salto de ventana o sin caché: la pasada normal, fila a fila.
        if not self.is_gpt:
            return True
        cache = row.window.cache
        return cache is not None and cache.pos > 0

    @torch.inference_mode()
    def step(self) -> list[tuple[BatchRow, GeneratedChar]]:
        """Un carácter para cada fila sin terminar (las terminadas se quedan hasta ``remove``)."""
        active = [r for r in self.rows if not r.done]
        together = [r for r in active if self._in_batch(r)]
        if self.is_gpt:  # por posición: las filas que comparten atención, seguidas
            together.sort(key=lambda r: r.window.cache.pos)  # type: ignore[union-attr]
        logits: dict[BatchRow, torch.Tensor] = {}
        if together:
            batch = self._gpt_step(together) if self.is_gpt else self._bigram_step(together)
            logits.update(zip(together, batch, strict=True))
        for row in active:
            if row not in logits:
                logits[row] = row.window.next_logits()
        picks = sample_many(
            [logits[r] for r in active], [r.params for r in active], [r.generator for r in active]
        )
        out = []
        for row, (token_id, probs) in zip(active, picks, strict=True):
            row.window.push(token_id)
            row.produced += 1
            out.append((row, generated_char(self.tokenizer, token_id, probs, row.params.top_probs)))
        return out

    def _bigram_step(self, rows: list[BatchRow]) -> torch.Tensor:
        # El bigrama solo mira el último carácter de cada fila.
        ids = torch.tensor([r.window.ids[-1:] for r in rows], device=self.device)
        logits, _ = self.model(ids)
        return logits[:, -1]

    def _gpt_step(self, rows: list[BatchRow]) -> torch.Tensor:
        """Una pasada del GPT con el carácter pendiente de cada fila, cada una en su posición.

        ``rows`` llega ordenada por posición, así que las filas con la misma longitud de
        contexto (que comparten la atención) quedan seguidas.
        """
        model = self.model
        assert isinstance(model, GPT)
        caches = [r.window.cache for r in rows]
        pos = [c.pos for c in caches]  # type: ignore[union-attr]
        slots = [r.slot for r in rows]
        tokens = torch.tensor([r.window.pending for r in rows], device=self.device)  # (B, 1)
        pos_t = torch.tensor(pos, device=self.device)
        slots_t = torch.tensor(slots, device=self.device)
        # Tramos [inicio, fin) de filas con la misma posición, y sus huecos en el almacén: un
        # número si es una sola fila (se usa una vista, sin copiar) o un tensor si son varias.
        groups: list[tuple[int, int, int, int | torch.Tensor]] = []
        start = 0
        for end in range(1, len(rows) + 1):
            if end == len(rows) or pos[end] != pos[start]:
                where = slots[start] if end - start == 1 else slots_t[start:end]
                groups.append((pos[start] + 1, start, end, where))  # type: ignore[arg-type]
                start = end

        x = model.tok_emb(tokens) + model.pos_emb(pos_t).unsqueeze(1)  # (B, 1, C)
        for layer, block in enumerate(model.blocks):
            x = x + self._attention(block.attn, norm(block.ln1, x), layer, pos_t, slots_t, groups)
            x = x + mlp(block, x)
        for cache in caches:
            cache.advance(1)  # type: ignore[union-attr]
        for row in rows:
            row.window.pending = []
        return linear(model.lm_head, norm(model.ln_f, x))[:, -1]

    def _attention(
        self,
        attn: nn.Module,
        x: torch.Tensor,
        layer: int,
        pos_t: torch.Tensor,
        slots_t: torch.Tensor,
        groups: list[tuple[int, int, int, int | torch.Tensor]],
    ) -> torch.Tensor:
        pool = self._pool
        assert pool is not None
        b, _, c = x.shape
        h, d = attn.n_head, attn.head_dim
        q, k, v = linear(attn.qkv, x).split(c, dim=2)
        q = q.view(b, 1, h, d).transpose(1, 2)  # (B, H, 1, D)
        # La clave y el valor nuevos de cada fila, a su hueco y su posición del almacén.
        all_keys, all_values = pool.k[layer], pool.v[layer]  # (huecos, H, block_size, D)
        all_keys[slots_t, :, pos_t] = k.view(b, h, d).to(all_keys.dtype)
        all_values[slots_t, :, pos_t] = v.view(b, h, d).to(all_values.dtype)
        outs = []
        for length, start, end, where in groups:
            # Claves y valores de las filas del tramo, (filas·H, L, D).
            if isinstance(where, int):
                keys = all_keys[where, :, :length]
                values = all_values[where, :, :length]
                queries = q[start]
            else:
                keys = all_keys[:, :, :length].index_select(0, where).flatten(0, 1)
                values = all_values[:, :, :length].index_select(0, where).flatten(0, 1)
                queries = q[start:end].flatten(0, 1)
            if keys.dtype != q.dtype:
                keys, values = keys.to(q.dtype), values.to(q.dtype)
            outs.append(attend(queries, keys, values))
        y = outs[0] if len(outs) == 1 else torch.cat(outs)  # (B·H, 1, D)
        y = y.view(b, h, 1, d).transpose(1, 2).contiguous().view(b, 1, c)
        return linear(attn.proj, y)


def generate_together(
    model: LanguageModel,
    tokenizer: CharTokenizer,
    requests: list[tuple[str, SamplingParams]],
    device: torch.device | None = None,
) -> list[str]:
    """Genera varias peticiones en un mismo lote y devuelve sus textos, en el mismo orden."""
    batch = BatchedGeneration(model, tokenizer, device)
    rows = [batch.add(prompt, params) for prompt, params in requests]
    texts: dict[BatchRow, list[str]] = {row: [] for row in rows}
    while any(not r.done for r in batch.rows):
        for row, char in batch.step():
            texts[row].append(char.text)
    return ["".join(texts[row]) for row in rows]

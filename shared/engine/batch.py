"""Motor de inferencia: la misma cuenta que la lección, reordenada para ir más rápido, y las
pruebas demuestran que es igual (``tests/test_generation.py``: el mismo texto que el bucle de
referencia de ``shared/generation.py``; ``tests/server/test_golden.py``: los textos grabados).

Lo usan la CLI (una fila), la API HTTP y el playground (con BATCHING=1, todas las peticiones
simultáneas de un worker en un mismo lote). Cada ``Engine.step`` da un carácter a cada fila:

- La primera pasada de cada fila (leer el prompt) y la que sigue a un salto de ventana son la
  pasada normal del modelo (``GPT.forward``), fila a fila, con la caché de su hueco en el
  almacén común (``KVSlots``, en shared/engine/slots.py).
- Después, un solo carácter nuevo por fila: ``_decode`` hace para todas las filas la cuenta de
  ``GPT.forward`` con caché, con las capas usadas como funciones (sin ``nn.Module.__call__``,
  sin máscara porque el carácter nuevo puede verlo todo, sin dropout porque al generar no hace
  nada). Con caché cada paso tarda pocos milisegundos y lo que cuesta llamar a cada capa pesa.
- Las capas lineales usan ``bmm`` con el peso "expandido": cada fila con el núcleo que usaría
  ella sola (una multiplicación de varias filas a la vez redondea distinto en el último bit y,
  muy de vez en cuando, cambiaría un carácter sorteado). La atención se calcula junta solo para
  las filas con la misma longitud de contexto: rellenar con ceros alargaría las sumas del
  softmax. Así el texto de una fila del lote es, bit a bit, el de esa fila sola.
- ``sample_rows`` sortea como ``shared/sampling.py`` (una petición sola es un lote de una fila):
  las filas con los mismos ajustes, juntas; cada una con su generador, así que saca el mismo
  número que sola. Van una a una las menos habituales: temperatura 0, top-p (ordenar depende
  del orden de los empates) y temperaturas tan pequeñas que los logits desbordan a infinito.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.checkpoints.models import LanguageModel, Tokenizer
from shared.engine.slots import KVSlots
from shared.generation import (
    GeneratedChar,
    GenerationResult,
    TextDecoder,
    collect,
    generated_char,
    prompt_ids,
    window_start,
)
from shared.sampling import SamplingParams, make_generator, sample_next_char
from shared.transformer_model import GPT, Block, CausalSelfAttention

# Los pesos traspuestos (1, entrada, salida) de cada capa, hechos una vez: ``t()`` y
# ``unsqueeze`` no copian nada, pero son dos llamadas a PyTorch por capa y paso (3-5 % del paso).
_TRANSPOSED: weakref.WeakKeyDictionary[nn.Linear, torch.Tensor] = weakref.WeakKeyDictionary()


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` para x (B, 1, C), cada fila con el núcleo que usaría ella sola."""
    weight, w = _TRANSPOSED.get(layer), layer.weight
    # Si los pesos se han movido (``model.to(...)``), la vista vieja apuntaría a otra memoria.
    if weight is None or weight.data_ptr() != w.data_ptr() or weight.dtype != w.dtype:
        weight = _TRANSPOSED[layer] = layer.weight.detach().t().unsqueeze(0)
    if x.size(0) > 1:
        weight = weight.expand(x.size(0), -1, -1)
    if layer.bias is None:
        return torch.bmm(x, weight)
    return torch.baddbmm(layer.bias, x, weight)


def _norm(layer: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    # El núcleo de F.layer_norm, sin su envoltorio de Python.
    return torch.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)


@dataclass(eq=False)  # cada fila es única: se compara (y se usa como clave) por identidad
class Row:
    """Una generación: sus ajustes, su generador aleatorio y su ventana de contexto."""

    params: SamplingParams
    generator: torch.Generator
    ids: list[int]
    decoder: TextDecoder  # guarda los bytes de un carácter a medias (tokens BPE)
    start: int = 0  # la ventana de contexto es ids[start:]
    slot: int | None = None  # su hueco en el almacén de caché (None: sin caché)
    cached: int = 0  # posiciones de la ventana ya en la caché (0: hay que leerla entera)
    produced: int = 0

    @property
    def done(self) -> bool:
        return self.produced >= self.params.max_new_tokens


class Engine:
    """Las filas que avanzan juntas sobre un modelo. No es seguro entre hilos: un hilo lo usa."""

    def __init__(
        self, model: LanguageModel, tokenizer: Tokenizer, device: torch.device | None = None
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = device or next(model.parameters()).device
        self.slots: KVSlots | None = None
        if isinstance(model, GPT):
            c = model.config
            self.slots = KVSlots(c.n_layer, c.n_head, c.head_dim, c.block_size, self.device)
        self.rows: list[Row] = []

    def add(self, prompt: str, params: SamplingParams) -> Row:
        """Una fila nueva; da su primer carácter en el próximo ``step``.

        Un prompt con caracteres que el modelo no conoce da aquí un ``TokenizerError``."""
        ids = prompt_ids(self.tokenizer, prompt, self.model.block_size)
        slot = self.slots.acquire() if self.slots is not None and params.use_cache else None
        row = Row(params, make_generator(params.seed), ids, TextDecoder(self.tokenizer), slot=slot)
        self.rows.append(row)
        return row

    def remove(self, row: Row) -> None:
        """Saca la fila (terminada o abandonada) y libera su hueco."""
        self.rows.remove(row)
        if self.slots is not None and row.slot is not None:
            self.slots.release(row.slot)

    @torch.inference_mode()
    def step(self) -> list[tuple[Row, GeneratedChar]]:
        """Un carácter para cada fila sin terminar (las terminadas se quedan hasta ``remove``)."""
        active = [r for r in self.rows if not r.done]
        if not active:
            return []
        logits: dict[Row, torch.Tensor] = {}
        if not isinstance(self.model, GPT):  # el bigrama solo mira el último carácter
            ids = torch.tensor([r.ids[-1:] for r in active], device=self.device)
            logits.update(zip(active, self.model(ids)[0][:, -1], strict=True))
        else:  # por longitud de contexto: las filas que comparten la atención, seguidas
            decoding = sorted((r for r in active if r.cached), key=lambda r: r.cached)
            if decoding:
                logits.update(zip(decoding, self._decode(self.model, decoding), strict=True))
        for row in active:
            if row not in logits:
                logits[row] = self._read_window(row)
        picks = sample_rows(
            [logits[r] for r in active],
            [r.params for r in active],
            [r.generator for r in active],
        )
        out = []
        for row, (token_id, probs) in zip(active, picks, strict=True):
            row.ids.append(token_id)
            row.produced += 1
            start = window_start(len(row.ids), row.start, self.model.block_size)
            if start != row.start:  # la ventana salta: se vuelve a leer desde su principio
                row.start, row.cached = start, 0
            step = generated_char(row.decoder, token_id, probs, row.params.top_probs, row.done)
            out.append((row, step))
        return out

    def _read_window(self, row: Row) -> torch.Tensor:
        """La pasada normal del modelo sobre toda la ventana (con la caché del hueco, si hay)."""
        ids = torch.tensor([row.ids[row.start :]], device=self.device)
        if row.slot is None or self.slots is None:
            return self.model(ids)[0][0, -1]
        cache = self.slots.cache(row.slot)
        logits = self.model(ids, kv_cache=cache)[0][0, -1]
        row.cached = cache.pos
        return logits

    def _decode(self, model: GPT, rows: list[Row]) -> torch.Tensor:
        """``GPT.forward`` con caché para el último carácter de cada fila, cada una en su posición.

        ``rows`` llega ordenada por posición. Tramos [inicio, fin) de filas con la misma, y sus
        huecos: un número si es una sola fila (se usa una vista, sin copiar) o un tensor.
        """
        pos = [r.cached for r in rows]
        groups: list[tuple[int, int, int, int | torch.Tensor]] = []
        first = 0
        for end in range(1, len(rows) + 1):
            if end == len(rows) or pos[end] != pos[first]:
                slots = [r.slot for r in rows[first:end]]
                where = slots[0] if len(slots) == 1 else torch.tensor(slots, device=self.device)
                groups.append((pos[first] + 1, first, end, where))  # type: ignore[arg-type]
                first = end
        # Qué carácter es + en qué posición está, como en GPT.forward. (B, 1, C)
        tok_w, pos_w = model.tok_emb.weight, model.pos_emb.weight
        if len(rows) == 1:  # con números: crear dos tensores costaría más que la suma
            x = (tok_w[rows[0].ids[-1]] + pos_w[pos[0]]).view(1, 1, -1)
        else:
            tokens = torch.tensor([r.ids[-1] for r in rows], device=self.device)
            x = (tok_w[tokens] + pos_w[torch.tensor(pos, device=self.device)]).unsqueeze(1)
        # cast: ModuleList no dice qué módulos guarda (para pyright, make check-windows).
        for layer, block in enumerate(cast("list[Block]", model.blocks)):
            x = x + self._attention(block.attn, _norm(block.ln1, x), layer, groups)
            h = F.gelu(_linear(block.mlp.fc, _norm(block.ln2, x)))
            x = x + _linear(block.mlp.proj, h)
        for row in rows:
            row.cached += 1
        return _linear(model.lm_head, _norm(model.ln_f, x))[:, -1]

    def _attention(
        self,
        attn: CausalSelfAttention,
        x: torch.Tensor,
        layer: int,
        groups: list[tuple[int, int, int, int | torch.Tensor]],
    ) -> torch.Tensor:
        assert self.slots is not None
        b, _, c = x.shape
        h, d = attn.n_head, attn.head_dim
        q, k, v = _linear(attn.qkv, x).view(b, 3, h, 1, d).unbind(1)  # (B, H, 1, D) cada una
        all_keys, all_values = self.slots.k[layer], self.slots.v[layer]  # (huecos, H, T, D)
        outs = []
        for length, first, end, where in groups:
            # La clave y el valor nuevos, a su posición; luego, las L guardadas de cada fila.
            if isinstance(where, int):
                keys, values = all_keys[where], all_values[where]  # (H, T, D), una vista
                keys[:, length - 1 : length] = k[first]
                values[:, length - 1 : length] = v[first]
                keys, values = keys[:, :length], values[:, :length]
                queries = q[first]  # (H, 1, D)
            else:
                all_keys[where, :, length - 1 : length] = k[first:end]
                all_values[where, :, length - 1 : length] = v[first:end]
                keys = all_keys[:, :, :length].index_select(0, where).flatten(0, 1)
                values = all_values[:, :, :length].index_select(0, where).flatten(0, 1)
                queries = q[first:end].reshape(-1, 1, d)  # (filas·H, 1, D)
            if keys.dtype != queries.dtype:
                keys, values = keys.to(queries.dtype), values.to(queries.dtype)
            # La atención de la lección con una sola consulta, que puede ver todas las claves.
            att = torch.bmm(queries, keys.transpose(-2, -1)).mul_(1.0 / math.sqrt(d))
            outs.append(torch.bmm(torch.softmax(att, dim=-1), values))
        y = outs[0] if len(outs) == 1 else torch.cat(outs)  # (B·H, 1, D), fila a fila
        return _linear(attn.proj, y.view(b, 1, c))


def sample_rows(
    logits: list[torch.Tensor], params: list[SamplingParams], generators: list[torch.Generator]
) -> list[tuple[int, torch.Tensor]]:
    """(id elegido, distribución) de cada fila: lo que daría ``sample_next_char`` con ella sola."""
    results: list[tuple[int, torch.Tensor] | None] = [None] * len(params)
    groups: dict[tuple[float, int], list[int]] = {}
    for i, p in enumerate(params):
        if p.temperature > 0 and p.top_p >= 1.0:
            groups.setdefault((p.temperature, p.top_k), []).append(i)
        else:
            results[i] = sample_next_char(logits[i], p, generators[i])
    for (temperature, top_k), members in groups.items():
        if len(members) == 1:  # una fila sola: sus propias operaciones son menos
            i = members[0]
            results[i] = sample_next_char(logits[i], params[i], generators[i])
            continue
        scaled = torch.stack([logits[i] for i in members]).detach().float().cpu() / temperature
        if not bool(torch.isfinite(scaled.amax(dim=1)).all()):
            for i in members:
                results[i] = sample_next_char(logits[i], params[i], generators[i])
            continue
        # Las operaciones de next_char_distribution y sample_from, por filas.
        if 0 < top_k < scaled.size(1):
            kth = torch.topk(scaled, top_k, dim=1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)
        u = torch.cat([torch.rand(1, generator=generators[i], dtype=torch.double) for i in members])
        cdf = torch.cumsum(probs.double(), dim=1)
        picked = torch.searchsorted(cdf, u.unsqueeze(1) * cdf[:, -1:], right=True)
        picked = picked.clamp_(max=probs.size(1) - 1)
        zero = (probs.gather(1, picked).view(-1) == 0).tolist()
        for n, (i, idx) in enumerate(zip(members, picked.view(-1).tolist(), strict=True)):
            while zero[n] and probs[n, idx] == 0 and idx > 0:  # nunca con probabilidad 0
                idx -= 1
            results[i] = (idx, probs[n])
    return results  # type: ignore[return-value]


def stream_generate(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str,
    params: SamplingParams,
    device: torch.device | None = None,
) -> Iterator[GeneratedChar]:
    """Genera ``params.max_new_tokens`` caracteres con el motor (un lote de una fila).

    El prompt se comprueba al llamarla, no al pedir el primer carácter: quien escribe la salida
    según llega (la CLI) recibe el error antes de haber escrito nada."""
    engine = Engine(model, tokenizer, device)
    row = engine.add(prompt, params)
    return _chars(engine, row)


def _chars(engine: Engine, row: Row) -> Iterator[GeneratedChar]:
    while not row.done:
        yield engine.step()[0][1]


def generate(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str,
    params: SamplingParams,
    device: torch.device | None = None,
) -> GenerationResult:
    """Genera el texto entero (sin el prompt) y mide cuánto tardó."""
    return collect(stream_generate(model, tokenizer, prompt, params, device), prompt)


def generate_together(
    model: LanguageModel,
    tokenizer: Tokenizer,
    requests: list[tuple[str, SamplingParams]],
    device: torch.device | None = None,
) -> list[str]:
    """Genera varias peticiones en un mismo lote y devuelve sus textos, en el mismo orden."""
    engine = Engine(model, tokenizer, device)
    rows = [engine.add(prompt, params) for prompt, params in requests]
    texts: dict[Row, list[str]] = {row: [] for row in rows}
    while any(not r.done for r in engine.rows):
        for row, char in engine.step():
            texts[row].append(char.text)
    return ["".join(texts[row]) for row in rows]

"""La generación tal como se enseña: el bucle de referencia con ``GPT.forward`` y la caché KV.

En cada paso el modelo da los logits del siguiente carácter, ``shared/sampling.py`` sortea uno
y se añade al texto. Con caché KV, la primera pasada lee el prompt entero y las siguientes solo
el último carácter (las claves y valores del resto ya están guardados).

El GPT solo admite ``block_size`` posiciones. Cuando el texto las supera, la ventana de
contexto salta: se queda con la última mitad y sigue creciendo (con caché, se vacía y se vuelve
a leer esa mitad).

Con el tokenizador BPE (``shared/bpe_tokenizer.py``) cada paso da un token, que puede ser una
palabra entera o medio carácter (la «ñ» son dos bytes): ``TextDecoder`` guarda los bytes hasta
que forman caracteres enteros, así que el texto que sale nunca lleva medio carácter.

La CLI, la API HTTP y el playground generan con el motor de inferencia
(``shared/engine/batch.py``): la misma cuenta reordenada para ir más rápido, probada igual que este
bucle (el mismo texto con la misma semilla, ``tests/test_generation.py``).
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from shared.checkpoints.models import LanguageModel, Tokenizer
from shared.kv_cache import KVCache
from shared.sampling import SamplingParams, make_generator, sample_next_char
from shared.transformer_model import GPT


@dataclass(frozen=True)
class GeneratedChar:
    """Un paso de la generación: un token y el texto que ya se puede escribir."""

    text: str  # con BPE puede ser "" (medio carácter, esperando) o varios caracteres
    token_id: int
    # La probabilidad con la que se eligió (la de la misma distribución que ``top``).
    prob: float
    # Los tokens más probables en este paso (tras temperatura, top-k y top-p), como texto visible.
    top: list[tuple[str, float]] = field(default_factory=list)
    token: str = ""  # el token elegido como texto visible (con caracteres, el propio carácter)


@dataclass
class GenerationResult:
    text: str
    prompt: str
    token_ids: list[int]
    chars: list[GeneratedChar]
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return len(self.token_ids) / self.seconds if self.seconds > 0 else 0.0


class TextDecoder:
    """De tokens a texto según se generan, sin escribir nunca medio carácter UTF-8.

    Cada token aporta sus bytes; el decodificador incremental de UTF-8 de la biblioteca estándar
    devuelve los caracteres ya completos y guarda los bytes de uno a medias hasta que llega el
    resto. Con ``final`` (el último token) suelta lo que quede: un carácter cortado sale como
    «�», igual que en ``tokenizer.decode`` de todos los ids. Con caracteres, cada token sale al
    momento, entero.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token_id: int, final: bool = False) -> str:
        return self._utf8.decode(self.tokenizer.token_bytes(token_id), final=final)


def prompt_ids(tokenizer: Tokenizer, prompt: str, block_size: int) -> list[int]:
    """El prompt codificado y recortado a ``block_size``. Vacío: un salto de línea."""
    if not prompt:
        prompt = "\n" if not tokenizer.unknown_chars("\n") else tokenizer.decode([0])
    return tokenizer.encode(prompt)[-block_size:]


def window_start(n_ids: int, start: int, block_size: int) -> int:
    """Dónde empieza la ventana de contexto tras añadir un carácter (salta a la última mitad)."""
    if n_ids - start > block_size:
        return n_ids - max(1, block_size // 2)
    return start


def generated_char(
    decoder: TextDecoder, token_id: int, probs: torch.Tensor, top_probs: int, final: bool
) -> GeneratedChar:
    """El token elegido, su texto y, si se piden, los ``top_probs`` candidatos más probables."""
    tokenizer = decoder.tokenizer
    top: list[tuple[str, float]] = []
    if top_probs:
        values, indices = torch.topk(probs, min(top_probs, probs.numel()))
        top = [
            (tokenizer.token_text(int(i)), round(float(v), 6))
            for v, i in zip(values, indices, strict=True)
        ]
    text = decoder.feed(token_id, final)
    return GeneratedChar(
        text, token_id, float(probs[token_id]), top, tokenizer.token_text(token_id)
    )


@torch.inference_mode()
def reference_generate(
    model: LanguageModel, tokenizer: Tokenizer, prompt: str, params: SamplingParams
) -> Iterator[GeneratedChar]:
    """Genera ``params.max_new_tokens`` tokens, uno a uno, con el modelo tal cual."""
    device = next(model.parameters()).device
    model.eval()
    ids = prompt_ids(tokenizer, prompt, model.block_size)
    start = 0  # la ventana de contexto es ids[start:]
    generator = make_generator(params.seed)
    decoder = TextDecoder(tokenizer)
    cache: KVCache | None = None
    for n in range(params.max_new_tokens):
        if cache is not None:
            new = ids[-1:]  # el resto de la ventana ya está en la caché
        else:
            new = ids[start:]
            if isinstance(model, GPT) and params.use_cache:
                cache = model.new_kv_cache(1, device)
        x = torch.tensor([new], device=device)
        logits, _ = model(x) if cache is None else model(x, kv_cache=cache)  # caché: solo GPT
        token_id, probs = sample_next_char(logits[0, -1], params, generator)
        ids.append(token_id)
        new_start = window_start(len(ids), start, model.block_size)
        if new_start != start:  # la ventana ha saltado: se vuelve a leer desde su principio
            start, cache = new_start, None
        last = n == params.max_new_tokens - 1
        yield generated_char(decoder, token_id, probs, params.top_probs, last)


def collect(chars: Iterator[GeneratedChar], prompt: str) -> GenerationResult:
    """Recoge un flujo de caracteres en un resultado, con lo que tardó."""
    t0 = time.perf_counter()
    out = list(chars)
    return GenerationResult(
        text="".join(c.text for c in out),
        prompt=prompt,
        token_ids=[c.token_id for c in out],
        chars=out,
        seconds=time.perf_counter() - t0,
    )

"""El único muestreador del proyecto: lo usan la CLI, la API HTTP y el playground.

``stream_generate`` produce el texto carácter a carácter (el servidor lo emite en streaming);
``generate`` lo recoge entero. Con la misma semilla, ambos dan exactamente el mismo texto.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from shared.decoding import decode_one
from shared.models import LanguageModel
from shared.sampling import SamplingParams, make_generator, sample_next_char
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT


@dataclass(frozen=True)
class GeneratedChar:
    text: str
    token_id: int
    # Los caracteres más probables en este paso (tras temperatura, top-k y top-p).
    top: list[tuple[str, float]] = field(default_factory=list)


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


def prompt_ids(tokenizer: CharTokenizer, prompt: str) -> list[int]:
    """Codifica el prompt. Vacío: se parte de un salto de línea, como en el proyecto original."""
    if prompt:
        return tokenizer.encode(prompt)
    start = "\n" if "\n" in tokenizer.stoi else tokenizer.chars[0]
    return [tokenizer.stoi[start]]


def generated_char(
    tokenizer: CharTokenizer, token_id: int, probs: torch.Tensor, top_probs: int
) -> GeneratedChar:
    """El carácter elegido y, si se piden, los ``top_probs`` candidatos más probables."""
    top: list[tuple[str, float]] = []
    if top_probs:
        values, indices = torch.topk(probs, min(top_probs, probs.numel()))
        top = [
            (tokenizer.chars[int(i)], round(float(v), 6))
            for v, i in zip(values, indices, strict=True)
        ]
    return GeneratedChar(tokenizer.chars[token_id], token_id, top)


class ContextWindow:
    """El contexto que ve el modelo en cada paso, con o sin caché KV.

    El GPT solo admite ``block_size`` posiciones. Cuando el texto las supera, la ventana salta:
    se queda con la última mitad y sigue creciendo. Con caché, el salto obliga a reconstruirla
    (una pasada sobre la media ventana); sin caché se recalcula todo en cada paso. Las dos formas
    usan la misma ventana, así que dan exactamente los mismos logits.
    """

    def __init__(
        self, model: LanguageModel, ids: list[int], device: torch.device, use_cache: bool
    ) -> None:
        self.model = model
        self.block_size = model.block_size
        self.keep = max(1, self.block_size // 2)
        self.device = device
        self.ids = list(ids[-self.block_size :])  # el prompt se recorta al block_size
        self.start = 0
        self.is_gpt = isinstance(model, GPT)
        self.cache = model.new_kv_cache(1, device) if (use_cache and self.is_gpt) else None
        self.pending: list[int] = []  # ids aún no metidos en la caché

    def _tensor(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([ids], dtype=torch.long, device=self.device)

    def push(self, token_id: int) -> None:
        self.ids.append(token_id)
        if len(self.ids) - self.start > self.block_size:
            self.start = len(self.ids) - self.keep
            if self.cache is not None:
                self.cache.reset()
        if self.cache is not None and self.cache.pos > 0:
            self.pending.append(token_id)

    def next_logits(self) -> torch.Tensor:
        if not self.is_gpt:
            # El bigrama solo mira el último carácter.
            logits, _ = self.model(self._tensor(self.ids[-1:]))
        elif self.cache is None:
            logits, _ = self.model(self._tensor(self.ids[self.start :]))
        elif self.cache.pos == 0:
            logits, _ = self.model(self._tensor(self.ids[self.start :]), kv_cache=self.cache)
        elif len(self.pending) == 1:
            # Lo habitual: un carácter nuevo que mira a toda la caché (shared/decoding.py).
            assert isinstance(self.model, GPT)
            self.pending, token_id = [], self.pending[0]
            return decode_one(self.model, token_id, self.cache)
        else:
            logits, _ = self.model(self._tensor(self.pending), kv_cache=self.cache)
        self.pending = []
        return logits[0, -1]


@torch.inference_mode()
def stream_generate(
    model: LanguageModel,
    tokenizer: CharTokenizer,
    prompt: str,
    params: SamplingParams,
    device: torch.device | None = None,
) -> Iterator[GeneratedChar]:
    """Genera ``params.max_new_tokens`` caracteres, entregándolos uno a uno."""
    params.validate()
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        window = ContextWindow(model, prompt_ids(tokenizer, prompt), device, params.use_cache)
        generator = make_generator(params.seed)
        for _ in range(params.max_new_tokens):
            token_id, probs = sample_next_char(window.next_logits(), params, generator)
            window.push(token_id)
            yield generated_char(tokenizer, token_id, probs, params.top_probs)
    finally:
        model.train(was_training)


def generate(
    model: LanguageModel,
    tokenizer: CharTokenizer,
    prompt: str,
    params: SamplingParams,
    device: torch.device | None = None,
) -> GenerationResult:
    """Genera el texto entero (sin el prompt) y mide cuánto tardó."""
    t0 = time.perf_counter()
    chars = list(stream_generate(model, tokenizer, prompt, params, device))
    seconds = time.perf_counter() - t0
    return GenerationResult(
        text="".join(c.text for c in chars),
        prompt=prompt,
        token_ids=[c.token_id for c in chars],
        chars=chars,
        seconds=seconds,
    )

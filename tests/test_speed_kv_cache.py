"""El motor de inferencia (shared/engine/batch.py) frente a la lección (shared/generation.py).

El motor hace la cuenta de ``GPT.forward`` con caché reordenada para ir rápido; aquí se
comprueba que da los mismos logits (1e-5) que el bucle de referencia, paso a paso y a lo largo
de varios saltos de ventana, y exactamente el mismo texto con la misma semilla.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import shared.engine.batch as engine
import shared.generation as lesson
from shared.sampling import SamplingParams
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT
from tests.helpers.models import sharp_gpt

TEXT = "abcdefghijklmnopqrstuvwxyz áéíóúñ¿?¡!.,\n"
BLOCK = 16


@pytest.fixture(scope="module")
def tok() -> CharTokenizer:
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def gpt(tok: CharTokenizer) -> GPT:
    return sharp_gpt(tok.vocab_size, block_size=BLOCK, seed=11)


def forced_logits(
    monkeypatch: pytest.MonkeyPatch,
    model: GPT,
    tok: CharTokenizer,
    ids: list[int],
    use_cache: bool,
    reference: bool,
) -> torch.Tensor:
    """Los logits de cada paso al empujar siempre el texto ``ids`` (sin sortear)."""
    seen: list[torch.Tensor] = []
    forced: Iterator[int] = iter(ids[3:])

    def one(logits, params, generator):  # type: ignore[no-untyped-def]
        seen.append(logits.clone())
        return next(forced), logits

    def rows(logits, params, generators):  # type: ignore[no-untyped-def]
        return [one(lg, None, None) for lg in logits]

    monkeypatch.setattr(lesson, "sample_next_char", one)
    monkeypatch.setattr(engine, "sample_rows", rows)
    params = SamplingParams(max_new_tokens=len(ids) - 3, use_cache=use_cache)
    prompt = tok.decode(ids[:3])
    if reference:
        list(lesson.reference_generate(model, tok, prompt, params))
    else:
        list(engine.stream_generate(model, tok, prompt, params))
    return torch.stack(seen)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"bias": False}, {"attention": "manual"}],
    ids=["sdpa", "sin-sesgos", "manual"],
)
def test_engine_logits_match_the_lesson_across_several_window_jumps(tok, monkeypatch, overrides):
    model = sharp_gpt(tok.vocab_size, block_size=BLOCK, seed=5, **overrides)
    ids = tok.encode((TEXT * 4)[: 3 + 5 * BLOCK])  # la ventana salta cada BLOCK // 2 caracteres
    plain = forced_logits(monkeypatch, model, tok, ids, use_cache=False, reference=True)
    cached = forced_logits(monkeypatch, model, tok, ids, use_cache=True, reference=True)
    fast = forced_logits(monkeypatch, model, tok, ids, use_cache=True, reference=False)
    assert len(plain) == len(ids) - 3
    torch.testing.assert_close(cached, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)

    # La prueba distingue ventanas: con una ventana deslizante (los últimos BLOCK caracteres
    # siempre) los logits tras el primer salto serían otros.
    with torch.inference_mode():
        sliding = torch.stack(
            [model(torch.tensor([ids[: 3 + i][-BLOCK:]]))[0][0, -1] for i in range(len(plain))]
        )
    first_jump = BLOCK - 3 + 1
    assert (sliding[first_jump:] - plain[first_jump:]).abs().max() > 0.1


@pytest.mark.parametrize(
    "params",
    [
        dict(temperature=1.0, seed=3),
        dict(temperature=0.8, top_k=5, seed=4),
        dict(temperature=1.2, top_p=0.7, seed=5),
        dict(temperature=0),
    ],
)
@pytest.mark.parametrize("use_cache", [True, False])
def test_engine_text_is_the_reference_loop_text(gpt, tok, params, use_cache):
    p = SamplingParams(max_new_tokens=6 * BLOCK, use_cache=use_cache, **params)
    fast = engine.generate(gpt, tok, "hola", p)
    reference = lesson.collect(lesson.reference_generate(gpt, tok, "hola", p), "hola")
    assert len(fast.token_ids) == 6 * BLOCK
    assert fast.token_ids == reference.token_ids


def test_engine_follows_weights_that_moved(tok, monkeypatch):
    """El motor guarda vistas de los pesos: si el modelo cambia de memoria, no usa las viejas."""
    model = sharp_gpt(tok.vocab_size, block_size=BLOCK, seed=6)
    ids = tok.encode("hola mundo, ¿qué tal?")

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        return (
            forced_logits(monkeypatch, model, tok, ids, use_cache=True, reference=False),
            forced_logits(monkeypatch, model, tok, ids, use_cache=False, reference=True),
        )

    torch.testing.assert_close(*both(), rtol=1e-5, atol=1e-5)
    # Memoria nueva para cada peso (como al pasar a otro dispositivo) y pesos distintos.
    model.to(torch.float64).to(torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    torch.testing.assert_close(*both(), rtol=1e-5, atol=1e-5)

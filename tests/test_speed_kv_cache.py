"""Caché KV más allá de block_size: la ventana salta y la caché se reconstruye sin error.

La prueba básica (cached == uncached con textos cortos) está en test_generation.py; aquí se
genera varias veces block_size caracteres, así que la ventana salta varias veces.
"""

from __future__ import annotations

import pytest
import torch

from shared.config import GPTConfig
from shared.decoding import decode_one
from shared.generation import ContextWindow, generate
from shared.sampling import SamplingParams
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT

TEXT = "abcdefghijklmnopqrstuvwxyz áéíóúñ¿?¡!.,\n"
BLOCK = 16


@pytest.fixture(scope="module")
def tok() -> CharTokenizer:
    return CharTokenizer.from_text(TEXT)


def sharp_gpt(tok: CharTokenizer, seed: int, **overrides: object) -> GPT:
    """GPT diminuto con pesos grandes: la atención es muy selectiva y los logits dependen mucho
    del contexto, así que una caché con posiciones viejas o mal colocadas cambiaría el resultado.
    """
    torch.manual_seed(seed)
    config = dict(vocab_size=tok.vocab_size, block_size=BLOCK, n_embd=32, n_head=4, n_layer=2)
    model = GPT(GPTConfig(**{**config, **overrides}))  # type: ignore[arg-type]
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.4)
    return model.eval()


@pytest.fixture(scope="module")
def gpt(tok: CharTokenizer) -> GPT:
    return sharp_gpt(tok, seed=11)


def logits_trace(model: GPT, ids: list[int], steps: int, use_cache: bool) -> torch.Tensor:
    """Los logits de cada paso al empujar siempre el mismo texto (sin sortear)."""
    window = ContextWindow(model, ids[:3], torch.device("cpu"), use_cache)
    out = []
    with torch.inference_mode():
        for i in range(steps):
            out.append(window.next_logits().clone())
            window.push(ids[3 + i])
            if window.cache is not None:
                assert window.cache.pos <= BLOCK
    return torch.stack(out)


def test_cached_logits_match_uncached_across_several_window_jumps(gpt, tok):
    ids = tok.encode((TEXT * 4)[: 3 + 5 * BLOCK])
    steps = 5 * BLOCK  # la ventana salta cada BLOCK // 2 caracteres a partir del primer lleno
    cached = logits_trace(gpt, ids, steps, use_cache=True)
    plain = logits_trace(gpt, ids, steps, use_cache=False)
    torch.testing.assert_close(cached, plain, rtol=1e-5, atol=1e-5)

    # La prueba distingue ventanas: con una ventana deslizante (los últimos BLOCK caracteres
    # siempre) los logits tras el primer salto serían otros.
    sliding = []
    with torch.inference_mode():
        for i in range(steps):
            ctx = ids[: 3 + i][-BLOCK:]
            sliding.append(gpt(torch.tensor([ctx]))[0][0, -1])
    sliding_t = torch.stack(sliding)
    first_jump = BLOCK - 3 + 1
    assert (sliding_t[first_jump:] - plain[first_jump:]).abs().max() > 0.1


@pytest.mark.parametrize(
    "params",
    [dict(temperature=1.0, seed=3), dict(temperature=0.8, top_k=5, seed=4), dict(temperature=0)],
)
def test_long_generation_is_identical_with_and_without_cache(gpt, tok, params):
    cached = generate(gpt, tok, "hola", SamplingParams(max_new_tokens=6 * BLOCK, **params))
    plain = generate(
        gpt, tok, "hola", SamplingParams(max_new_tokens=6 * BLOCK, use_cache=False, **params)
    )
    assert len(cached.token_ids) == 6 * BLOCK
    assert cached.token_ids == plain.token_ids


@pytest.mark.parametrize(
    "overrides",
    [{}, {"bias": False}, {"attention": "manual"}],
    ids=["sdpa", "sin-sesgos", "manual"],
)
def test_decode_one_matches_the_model_pass_with_cache(tok, overrides):
    """El paso rápido de un carácter (shared/decoding.py) hace la misma cuenta que GPT.forward."""
    model = sharp_gpt(tok, seed=5, **overrides)
    ids = tok.encode((TEXT * 2)[:BLOCK])
    fast = model.new_kv_cache(1, torch.device("cpu"))
    slow = model.new_kv_cache(1, torch.device("cpu"))
    with torch.inference_mode():
        model(torch.tensor([ids[:3]]), kv_cache=fast)
        model(torch.tensor([ids[:3]]), kv_cache=slow)
        for token_id in ids[3:]:
            expected = model(torch.tensor([[token_id]]), kv_cache=slow)[0][0, -1]
            got = decode_one(model, token_id, fast)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            assert fast.pos == slow.pos
        torch.testing.assert_close(fast.k, slow.k, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast.v, slow.v, rtol=1e-5, atol=1e-5)
        # Llena: no escribe fuera de la caché.
        with pytest.raises(ValueError, match="caché KV está llena"):
            decode_one(model, ids[0], fast)


def test_decode_one_follows_weights_that_moved(tok):
    """decode_one guarda vistas de los pesos: si el modelo cambia de memoria, no usa las viejas."""
    torch.manual_seed(6)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK, n_embd=32, n_head=4)).eval()
    ids = tok.encode("hola mundo")

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        fast = model.new_kv_cache(1, torch.device("cpu"))
        with torch.inference_mode():
            model(torch.tensor([ids[:-1]]), kv_cache=fast)
            expected = model(torch.tensor([ids]))[0][0, -1]
            return decode_one(model, ids[-1], fast), expected

    torch.testing.assert_close(*both(), rtol=1e-5, atol=1e-5)
    # Memoria nueva para cada peso (como al pasar a otro dispositivo) y pesos distintos.
    model.to(torch.float64).to(torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    torch.testing.assert_close(*both(), rtol=1e-5, atol=1e-5)

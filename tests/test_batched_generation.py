"""Generación por lotes (``shared.engine.batch.Engine``) frente a la misma petición sola.

Cada fila del lote debe dar el mismo texto que sola, y sus logits deben ser idénticos bit a bit
en cada paso: filas en posiciones distintas, que entran a mitad, con saltos de ventana, con y
sin caché, con el GPT (atención sdpa y explícita, con y sin sesgos) y con el bigrama.
"""

from __future__ import annotations

import random

import pytest
import torch

import shared.engine.batch as solo
from shared.bigram_model import BigramLanguageModel
from shared.config import BigramConfig, GPTConfig
from shared.engine.batch import Engine, generate_together, sample_rows
from shared.generation import reference_generate
from shared.sampling import SamplingParams, make_generator, sample_next_char
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT

TEXT = "abcdefghijklmnopqrstuvwxyz áéíóúñ¿?¡!.,\n"
BLOCK = 16


@pytest.fixture(scope="module")
def tok() -> CharTokenizer:
    return CharTokenizer.from_text(TEXT)


def make_gpt(tok: CharTokenizer, **overrides: object) -> GPT:
    torch.manual_seed(11)
    sizes: dict[str, object] = {"n_embd": 32, "n_head": 4, "n_layer": 2, **overrides}
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK, **sizes))  # type: ignore[arg-type]
    # Pesos grandes: logits muy sensibles al contexto, así que una posición, una clave o un
    # salto de ventana mal hechos cambiarían el texto enseguida.
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.4)
    return model.eval()


def requests_for(seed: int, n: int) -> list[tuple[str, SamplingParams]]:
    """Peticiones variadas: prompts de 0 a 40 caracteres (más que BLOCK) y ajustes distintos.

    Van por parejas con prompts de la misma longitud: entran juntas y comparten la atención.
    """
    rng = random.Random(seed)
    settings = [
        {"temperature": 1.0},
        {"temperature": 0.0},
        {"temperature": 0.8, "top_k": 5},
        {"temperature": 1.2, "top_p": 0.7},
        {"temperature": 0.5, "top_k": 10, "top_p": 0.9, "top_probs": 3},
    ]
    out = []
    for i in range(n):
        length = rng.randint(0, 40) if i % 2 == 0 else len(out[-1][0])
        prompt = "".join(rng.choice(TEXT) for _ in range(length))
        params = SamplingParams(
            max_new_tokens=rng.randint(1, 70), seed=1000 + i, **settings[i % len(settings)]
        )
        out.append((prompt, params))
    return out


def reference_text(model, tok, prompt: str, params: SamplingParams) -> str:  # type: ignore[no-untyped-def]
    """El texto del bucle de la lección (shared/generation.py), con ``GPT.forward``."""
    return "".join(c.text for c in reference_generate(model, tok, prompt, params))


class LogitsSpy:
    """Anota los logits que recibe el muestreador (en solitario y en el lote), en orden."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[torch.Tensor] = []
        monkeypatch.setattr(solo, "sample_rows", self.many)

    def many(self, logits, params, generators):  # type: ignore[no-untyped-def]
        self.seen.extend(lg.clone() for lg in logits)
        return sample_rows(logits, params, generators)


def staggered_run(model, tok, reqs, spy: LogitsSpy, every: int = 3):  # type: ignore[no-untyped-def]
    """Dos filas nuevas cada ``every`` pasos; las terminadas salen. Textos y logits por fila."""
    batch = Engine(model, tok)
    pending = list(enumerate(reqs))
    index, texts, tops, logits = {}, {}, {}, {}
    step = 0
    while pending or batch.rows:
        while pending and step % every == 0 and len(index) < 2 * (step // every + 1):
            i, (prompt, params) = pending.pop(0)
            row = batch.add(prompt, params)
            index[row] = i
            texts[i], tops[i], logits[i] = [], [], []
        active = [r for r in batch.rows if not r.done]
        spy.seen.clear()
        produced = batch.step()
        assert [r for r, _ in produced] == active
        for (row, char), lg in zip(produced, spy.seen, strict=True):
            texts[index[row]].append(char.text)
            tops[index[row]].append(char.top)
            logits[index[row]].append(lg)
        for row in [r for r in batch.rows if r.done]:
            batch.remove(row)
        step += 1
    return texts, tops, logits


@pytest.mark.parametrize(
    "overrides",
    [{}, {"attention": "manual"}, {"bias": False}, {"n_embd": 48, "n_head": 3, "n_layer": 3}],
    ids=["sdpa", "manual", "sin-sesgos", "3-capas"],
)
def test_each_row_matches_generating_alone_bit_for_bit(tok, monkeypatch, overrides) -> None:
    model = make_gpt(tok, **overrides)
    reqs = requests_for(len(overrides), 10)
    spy = LogitsSpy(monkeypatch)
    expected = []
    for prompt, params in reqs:
        spy.seen.clear()
        chars = list(solo.stream_generate(model, tok, prompt, params))
        expected.append((chars, list(spy.seen)))
    texts, tops, logits = staggered_run(model, tok, reqs, spy)
    jumps = 0
    for i, (chars, solo_logits) in enumerate(expected):
        assert "".join(texts[i]) == "".join(c.text for c in chars), i
        assert tops[i] == [c.top for c in chars], i
        assert len(logits[i]) == len(solo_logits)
        assert all(torch.equal(a, b) for a, b in zip(logits[i], solo_logits, strict=True)), i
        prompt_len = max(1, len(reqs[i][0]))
        jumps += min(prompt_len, BLOCK) + len(chars) > BLOCK
    assert jumps >= 3  # varias filas pasaron del block_size: la ventana saltó dentro del lote


def test_rows_without_cache_and_identical_rows(tok) -> None:
    model = make_gpt(tok)
    params = SamplingParams(max_new_tokens=50, seed=5, temperature=0.9)
    reqs = [
        ("hola", params),
        ("hola", params),  # dos filas iguales en el mismo lote: el mismo texto
        ("¿qué?", SamplingParams(max_new_tokens=50, seed=6, use_cache=False)),
    ]
    texts = generate_together(model, tok, reqs)
    assert texts[0] == texts[1]
    assert texts == [reference_text(model, tok, p, prm) for p, prm in reqs]


def test_bigram_rows_match_generating_alone(tok) -> None:
    torch.manual_seed(2)
    model = BigramLanguageModel(BigramConfig(vocab_size=tok.vocab_size, block_size=BLOCK))
    torch.nn.init.normal_(model.logits_table.weight)
    reqs = requests_for(7, 6)
    assert generate_together(model, tok, reqs) == [
        reference_text(model, tok, p, prm) for p, prm in reqs
    ]


def test_cache_store_grows_and_reuses_freed_slots(tok) -> None:
    model = make_gpt(tok)
    batch = Engine(model, tok)
    rows = [batch.add("ab", SamplingParams(max_new_tokens=30, seed=i)) for i in range(3)]
    batch.step()
    # Más filas que huecos (el almacén crece al doble): las filas viejas conservan su caché.
    rows += [batch.add("c", SamplingParams(max_new_tokens=30, seed=10 + i)) for i in range(6)]
    assert batch.slots is not None and batch.slots.k.size(1) == 16
    out: dict[int, list[str]] = {i: [] for i in range(len(rows))}
    while any(not r.done for r in batch.rows):
        for row, char in batch.step():
            out[rows.index(row)].append(char.text)
    first = solo.generate(model, tok, "ab", SamplingParams(max_new_tokens=30, seed=0)).text
    assert len(out[0]) == 29 and first[1:] == "".join(out[0])  # el primero ya salió antes
    # Al sacar una fila, su hueco vuelve a estar libre y lo usa la siguiente.
    slot = rows[4].slot
    batch.remove(rows[4])
    assert batch.add("d", SamplingParams(max_new_tokens=1)).slot == slot


@pytest.mark.parametrize("vocab", [5, 75])
def test_sample_rows_draws_what_each_row_would_draw_alone(vocab: int) -> None:
    torch.manual_seed(vocab)
    rng = random.Random(vocab)
    settings = [
        {"temperature": 1.0},
        {"temperature": 0.7},
        {"temperature": 0.7, "top_k": 3},
        {"temperature": 1.5, "top_k": 100},  # top_k mayor que el vocabulario: sin filtro
        {"temperature": 0.0},
        {"temperature": 1e-140},  # los logits escalados desbordan: codicioso
        {"temperature": 0.9, "top_p": 0.6},
    ]
    for _ in range(20):
        n = rng.randint(1, 24)
        logits = [torch.randn(vocab) * rng.choice([0.1, 3.0, 30.0]) for _ in range(n)]
        logits[0][1:] = float("-inf")  # una fila con un único carácter posible
        params = [SamplingParams(seed=rng.randint(0, 99), **rng.choice(settings)) for _ in logits]
        together = sample_rows(logits, params, [make_generator(p.seed) for p in params])
        for lg, p, (token, probs) in zip(logits, params, together, strict=True):
            alone_token, alone_probs = sample_next_char(lg, p, make_generator(p.seed))
            assert token == alone_token
            assert torch.equal(probs, alone_probs)

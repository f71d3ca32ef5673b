import pytest
import torch

from shared.bigram_model import BigramLanguageModel
from shared.common.errors import ConfigError, TokenizerError
from shared.config import BigramConfig
from shared.engine.batch import generate, stream_generate
from shared.sampling import (
    SamplingParams,
    make_generator,
    next_char_distribution,
    sample_next_char,
)
from shared.tokenizer import CharTokenizer
from tests.helpers.models import sharp_gpt

TEXT = "¿Dónde está el pingüino? ¡En la cañada! «Sí», dijo.\n"


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def gpt(tok):
    # Afilado: el carácter siguiente depende mucho del contexto, así que una caché que mirase
    # solo el carácter nuevo (o posiciones equivocadas) cambiaría el texto.
    return sharp_gpt(tok.vocab_size, seed=3, block_size=32, n_embd=32, n_head=4, n_layer=2)


@pytest.fixture(scope="module")
def bigram(tok):
    """Un bigrama entrenado de verdad (la tabla en cero daría la uniforme: cualquier fila de la
    tabla, o ninguna, sortearía lo mismo)."""
    torch.manual_seed(0)
    model = BigramLanguageModel(BigramConfig(vocab_size=tok.vocab_size, block_size=32))
    ids = torch.tensor([tok.encode(TEXT * 4)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.3)
    for _ in range(60):
        _, loss = model(ids[:, :-1], ids[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_same_seed_same_text_different_seed_different_text(gpt, tok):
    p = SamplingParams(max_new_tokens=60, temperature=1.0, seed=42)
    a = generate(gpt, tok, "¿Dónde", p).text
    b = generate(gpt, tok, "¿Dónde", p).text
    c = generate(gpt, tok, "¿Dónde", SamplingParams(max_new_tokens=60, seed=43)).text
    assert a == b and len(a) == 60
    assert a != c


@pytest.mark.parametrize("params", [
    dict(temperature=1.0), dict(temperature=0.7, top_k=5), dict(temperature=1.3, top_p=0.8),
    dict(temperature=0.0),
])  # fmt: skip
def test_kv_cache_gives_exactly_the_uncached_tokens(gpt, tok, params):
    # 25 tokens nuevos dentro del block_size (32) con un prompt de 6.
    cached = generate(gpt, tok, "¡En la", SamplingParams(max_new_tokens=25, seed=7, **params))
    plain = generate(
        gpt, tok, "¡En la", SamplingParams(max_new_tokens=25, seed=7, use_cache=False, **params)
    )
    assert cached.token_ids == plain.token_ids


def test_stream_equals_generate(gpt, tok):
    p = SamplingParams(max_new_tokens=40, seed=5, top_k=10)
    streamed = "".join(c.text for c in stream_generate(gpt, tok, "Sí", p))
    assert streamed == generate(gpt, tok, "Sí", p).text


def test_greedy_is_the_argmax_of_the_full_uncached_forward(gpt, tok):
    # La referencia, escrita aquí: la pasada completa del modelo sobre todo el texto (sin caché)
    # y el carácter más probable. 6 + 25 caracteres caben en block_size=32: sin saltos de
    # ventana. Falla si el paso con caché atiende solo al carácter nuevo.
    ids = tok.encode("¡En la")
    with torch.no_grad():
        for _ in range(25):
            logits, _ = gpt(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    out = generate(gpt, tok, "¡En la", SamplingParams(max_new_tokens=25, temperature=0))
    assert out.token_ids == ids[6:]
    assert len(set(out.text)) > 1  # no es un carácter repetido: el contexto cuenta


def test_greedy_is_deterministic_without_seed(gpt, tok):
    a = generate(gpt, tok, "el", SamplingParams(max_new_tokens=30, temperature=0)).text
    b = generate(gpt, tok, "el", SamplingParams(max_new_tokens=30, temperature=0)).text
    assert a == b


def test_top_k_one_equals_greedy(gpt, tok):
    greedy = generate(gpt, tok, "el", SamplingParams(max_new_tokens=30, temperature=0)).text
    top1 = generate(gpt, tok, "el", SamplingParams(max_new_tokens=30, top_k=1, seed=9)).text
    assert greedy == top1


def test_top_k_and_top_p_filter_the_distribution():
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])
    probs = next_char_distribution(logits, SamplingParams(top_k=2))
    assert (probs[2:] == 0).all() and probs[:2].sum().item() == pytest.approx(1.0)
    full = torch.softmax(logits, 0)
    probs = next_char_distribution(logits, SamplingParams(top_p=0.9))
    kept = (probs > 0).sum().item()
    assert full[: kept - 1].sum() < 0.9 <= full[:kept].sum() + 1e-6
    cold = next_char_distribution(logits, SamplingParams(temperature=0.5))
    assert cold[0] > full[0]  # temperatura baja: más peso al favorito


def test_top_probabilities_are_reported(gpt, tok):
    chars = list(
        stream_generate(gpt, tok, "el", SamplingParams(max_new_tokens=5, seed=1, top_probs=3))
    )
    for c in chars:
        assert len(c.top) == 3
        probs = [p for _, p in c.top]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
        assert all(ch in tok.stoi for ch, _ in c.top)


def test_long_prompt_is_cropped_to_block_size(gpt, tok):
    long_prompt = (TEXT * 5)[:150]  # mucho más que block_size=32
    out = generate(gpt, tok, long_prompt, SamplingParams(max_new_tokens=10, seed=1))
    cropped = generate(gpt, tok, long_prompt[-32:], SamplingParams(max_new_tokens=10, seed=1))
    assert out.text == cropped.text


def test_empty_prompt_starts_from_newline(gpt, tok):
    a = generate(gpt, tok, "", SamplingParams(max_new_tokens=10, seed=4)).text
    b = generate(gpt, tok, "\n", SamplingParams(max_new_tokens=10, seed=4)).text
    assert a == b


def test_bigram_uses_the_same_sampler(bigram, tok):
    table = bigram.logits_table.weight.detach()
    assert table.std() > 0.5  # entrenado: lejos de la tabla en cero (la uniforme)
    params = SamplingParams(max_new_tokens=40, temperature=0.8, top_k=5, seed=3)
    out = generate(bigram, tok, "¿", params)
    # La referencia: el muestreador de la lección sobre la fila del último carácter.
    generator, ids = make_generator(3), tok.encode("¿")
    for _ in range(40):
        ids.append(sample_next_char(table[ids[-1]], params, generator)[0])
    assert out.token_ids == ids[1:]
    greedy = generate(bigram, tok, "¿", SamplingParams(max_new_tokens=5, temperature=0))
    assert greedy.token_ids[0] == int(table[tok.encode("¿")[0]].argmax())


def test_unknown_prompt_characters_and_bad_params_fail_clearly(gpt, tok):
    with pytest.raises(TokenizerError, match="'€'"):
        generate(gpt, tok, "hola €", SamplingParams(max_new_tokens=5))
    for bad in (
        dict(temperature=-1),
        dict(top_p=0),
        dict(top_p=1.5),
        dict(top_k=-2),
        dict(seed=-1),
        dict(max_new_tokens=-5),
    ):
        with pytest.raises(ConfigError):
            generate(gpt, tok, "el", SamplingParams(**bad))

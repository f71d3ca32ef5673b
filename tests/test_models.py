import pytest
import torch

from shared.bigram_model import BigramLanguageModel
from shared.common.errors import ConfigError
from shared.config import BigramConfig, GPTConfig
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT
from tests.helpers.cli import tiny_text


def small_gpt(attention: str = "sdpa", **kw) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=20, block_size=16, n_embd=32, n_head=4, n_layer=2, attention=attention)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


@pytest.mark.parametrize("attention", ["sdpa", "manual"])
def test_causal_mask_future_never_changes_past(attention):
    model = small_gpt(attention).eval()
    x = torch.randint(0, 20, (2, 16), generator=torch.Generator().manual_seed(1))
    base, _ = model(x)
    for pos in (5, 10, 15):
        y = x.clone()
        y[:, pos] = (y[:, pos] + 7) % 20  # cambiamos un carácter posterior
        changed, _ = model(y)
        torch.testing.assert_close(changed[:, :pos], base[:, :pos], rtol=0, atol=1e-6)
        assert not torch.allclose(changed[:, pos:], base[:, pos:])


def test_manual_attention_equals_sdpa():
    fast = small_gpt("sdpa").eval()
    slow = small_gpt("manual").eval()
    slow.load_state_dict(fast.state_dict())
    x = torch.randint(0, 20, (3, 16), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(fast(x)[0], slow(x)[0], rtol=1e-5, atol=1e-5)


def test_residual_projections_have_scaled_init():
    model = small_gpt(n_layer=4)
    std = model.blocks[0].attn.proj.weight.std().item()
    assert std < 0.02 / (2 * 4) ** 0.5 * 1.3
    assert model.lm_head.weight is model.tok_emb.weight  # pesos compartidos


def test_weight_decay_only_on_matrices():
    model = small_gpt()
    decay, no_decay = model.optimizer_groups(0.1)
    assert decay["weight_decay"] == 0.1 and all(p.dim() >= 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.dim() < 2 for p in no_decay["params"])
    ids = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # cada uno, una vez
    bigram = BigramLanguageModel(BigramConfig(vocab_size=7))
    (table,) = bigram.optimizer_groups(0.0)
    assert table["weight_decay"] == 0.0 and table["params"] == [bigram.logits_table.weight]


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_embd=30, n_head=4), dict(n_layer=0), dict(block_size=-1), dict(dropout=1.5)],
)
def test_invalid_gpt_configs_raise_clear_errors(kwargs):
    cfg = dict(vocab_size=10, block_size=8, n_embd=32, n_head=4, n_layer=1)
    cfg.update(kwargs)
    with pytest.raises(ConfigError):
        GPT(GPTConfig(**cfg))


def _train(model, ids, steps, lr, block=16):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        ix = torch.randint(len(ids) - block - 1, (16,), generator=gen)
        x = torch.stack([ids[i : i + block] for i in ix])
        y = torch.stack([ids[i + 1 : i + block + 1] for i in ix])
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", ["bigram", "gpt"])
def test_both_models_learn_a_tiny_text(kind):
    text = tiny_text(10)
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text))
    torch.manual_seed(0)
    if kind == "bigram":
        model = BigramLanguageModel(BigramConfig(vocab_size=tok.vocab_size, block_size=16))
        losses = _train(model, ids, 150, 0.1)
    else:
        model = GPT(
            GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_embd=32, n_head=2, n_layer=1)
        )
        losses = _train(model, ids, 150, 3e-3)
    uniform = torch.log(torch.tensor(float(tok.vocab_size))).item()
    assert abs(losses[0] - uniform) < 0.3  # empieza cerca del azar
    assert sum(losses[-10:]) / 10 < 0.6 * uniform  # y aprende


@pytest.mark.parametrize("attention", ["sdpa", "manual"])
def test_chunks_with_kv_cache_equal_one_full_pass(attention):
    """Con caché, las consultas empiezan en una posición > 0: la máscara es su trozo."""
    model = small_gpt(attention).eval()
    x = torch.randint(0, 20, (2, 16), generator=torch.Generator().manual_seed(4))
    full, _ = model(x)
    cache = model.new_kv_cache(2, torch.device("cpu"))
    chunks = [model(x[:, a:b], kv_cache=cache)[0] for a, b in ((0, 5), (5, 6), (6, 13), (13, 16))]
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, rtol=1e-5, atol=1e-5)
    assert cache.pos == 16
    with pytest.raises(ValueError, match="block_size"):
        model(x[:, :1], kv_cache=cache)


def test_explicit_attention_hands_back_its_weights():
    """Los pesos de atención que se dibujan salen de la atención explícita, la de la lección."""
    model = small_gpt("sdpa").eval()
    x = torch.randint(0, 20, (1, 16), generator=torch.Generator().manual_seed(5))
    expected, _ = model(x)
    attn = model.blocks[1].attn
    attn.record_weights = True
    got, _ = model(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)  # sdpa == explícita
    w = attn.weights
    assert w is not None and w.shape == (1, 4, 16, 16)
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 4, 16))  # cada fila reparte 1
    assert torch.equal(w.triu(1), torch.zeros_like(w))  # nada al futuro
    assert model.blocks[0].attn.weights is None  # solo donde se pidió


def test_the_lesson_carries_nothing_for_the_trainer_bench_or_engine():
    """Lo que solo usan otros vive con ellos (issue #18): la atención bf16 del entrenador
    (trainer/precision.py), los FLOPs del bench, el contador de parámetros
    (shared/checkpoints/shapes.py) y el almacén de cachés del motor (shared/engine/slots.py)."""
    import inspect

    import shared.kv_cache

    gpt, bigram = small_gpt(), BigramLanguageModel(BigramConfig(vocab_size=7))
    for model in (gpt, bigram):
        for name in ("num_params", "flops_per_token", "configure_optimizers"):
            assert not hasattr(model, name), f"{type(model).__name__}.{name}"
        assert list(inspect.signature(model.optimizer_groups).parameters) == ["weight_decay"]
    assert list(inspect.signature(bigram.forward).parameters) == ["idx", "targets"]
    assert not hasattr(gpt.blocks[0].attn, "kernel")
    assert not hasattr(shared.kv_cache, "KVSlots")

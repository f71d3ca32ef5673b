"""El mapa de atención: los pesos que el modelo usa de verdad, y la figura de la CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from matplotlib.image import imread

from shared.bigram_model import BigramLanguageModel
from shared.config import BigramConfig
from shared.engine.attention_map import AttentionMapError, attention_map
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT
from tests.helpers.cli import run_module, tiny_text
from tests.helpers.models import sharp_gpt

PROMPT = "¿Qué tal, Ñandú? El niño"


def gpt(attention: str = "sdpa", n_layer: int = 2, n_head: int = 3) -> GPT:
    """Un GPT afilado (tests/helpers/models.py): atención picuda, lejos de la uniforme (con pesos
    casi iguales, una prueba no distinguiría los pesos buenos de una media)."""
    return sharp_gpt(
        tokenizer().vocab_size, block_size=32, n_embd=24, n_head=n_head, n_layer=n_layer,
        attention=attention,
    )  # fmt: skip


def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_text(tiny_text(1))


@pytest.mark.parametrize("attention", ["sdpa", "manual"])
def test_rows_sum_to_one_and_the_future_is_zero(attention: str) -> None:
    amap = attention_map(gpt(attention), tokenizer(), PROMPT)
    t = len(PROMPT)
    assert amap.chars == list(PROMPT)
    assert (amap.n_layer, amap.n_head) == (2, 3)
    for layer in amap.layers:
        for head in layer:
            assert len(head) == t and all(len(row) == t for row in head)
            for i, row in enumerate(head):
                assert math.isclose(sum(row), 1.0, abs_tol=1e-5)
                assert all(w == 0.0 for w in row[i + 1 :]), "el futuro tiene peso"
    # Atención picuda: no es la media uniforme 1/(i+1) de cada fila.
    last = amap.layers[0][0][t - 1]
    assert max(last) > 2.0 / t


def test_weights_reproduce_the_output_the_model_really_computed() -> None:
    """Con los pesos del mapa y los valores v de cada capa se recompone la salida de la
    atención que calculó el modelo en una pasada normal (sdpa, sin grabar nada)."""
    model = gpt("sdpa")
    tok = tokenizer()
    idx = torch.tensor([tok.encode(PROMPT)])
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [
        block.attn.register_forward_hook(
            lambda mod, args, out, i=i: seen.__setitem__(i, (args[0].detach(), out.detach()))
        )
        for i, block in enumerate(model.blocks)
    ]
    with torch.no_grad():
        model(idx)
    for h in hooks:
        h.remove()
    amap = attention_map(model, tok, PROMPT)
    for layer, block in enumerate(model.blocks):
        attn = block.attn
        x, out = seen[layer]
        b, t, c = x.shape
        _, _, v = attn.qkv(x).split(c, dim=2)
        v = v.view(b, t, attn.n_head, attn.head_dim).transpose(1, 2)
        weights = torch.tensor(amap.layers[layer]).unsqueeze(0)  # (1, H, T, T)
        y = (weights @ v).transpose(1, 2).reshape(b, t, c)
        torch.testing.assert_close(attn.proj(y), out, atol=1e-5, rtol=1e-4)
    # Y el modelo queda como estaba: sin grabar ni guardar pesos.
    assert all(not blk.attn.record_weights and blk.attn.weights is None for blk in model.blocks)


def test_bigram_and_bad_prompts_are_clear_errors() -> None:
    tok = tokenizer()
    bigram = BigramLanguageModel(BigramConfig(vocab_size=tok.vocab_size))
    with pytest.raises(AttentionMapError, match="bigrama no tiene atención"):
        attention_map(bigram, tok, PROMPT)
    with pytest.raises(AttentionMapError, match="block_size"):
        attention_map(gpt(), tok, "a" * 40)
    with pytest.raises(AttentionMapError, match="vacío"):
        attention_map(gpt(), tok, "")


def test_cli_draws_the_grid(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "atencion.png"
    proc = run_module(
        "trainer.attention", "--ckpt", str(tiny_checkpoint), "--prompt", "El niño",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "1 capas × 2 cabezas, 7 caracteres" in proc.stdout
    image = imread(out)
    h, w = image.shape[:2]
    assert w > h > 100  # dos cabezas en fila: más ancha que alta
    # Las pruebas de la CLI con un bigrama: error en español y código 2, sin figura.
    bigram_dir = tmp_path / "bigram"
    data = tmp_path / "mini.txt"
    data.write_text(tiny_text(), encoding="utf-8")
    run_module(
        "trainer", "--model", "bigram", "--data", str(data), "--max-steps", "5",
        "--eval-interval", "5", "--eval-iters", "1", "--checkpoint-dir", str(bigram_dir),
        "--run-name", "bi", "--no-progress", check=True,
    )  # fmt: skip
    bad = run_module(
        "trainer.attention", "--ckpt", str(bigram_dir / "bi.pt"), "--prompt", "El",
        "--out", str(tmp_path / "no.png"),
    )  # fmt: skip
    assert bad.returncode == 2
    assert "bigrama no tiene atención" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "no.png").exists()

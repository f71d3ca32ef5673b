import math

import pytest
import torch
import torch.nn.functional as F

from shared.bigram_model import BigramLanguageModel
from shared.config import BigramConfig, GPTConfig
from shared.transformer_model import GPT
from trainer.data import split_ids
from trainer.loss_measurement import evaluate_ids
from trainer.lr_schedule import lr_at


def test_exact_evaluation_predicts_every_character_once():
    torch.manual_seed(0)
    model = BigramLanguageModel(BigramConfig(vocab_size=7, block_size=8))
    torch.nn.init.normal_(model.logits_table.weight)
    ids = torch.randint(0, 7, (101,))
    result = evaluate_ids(model, ids, torch.device("cpu"), batch_size=3)
    logp = F.log_softmax(model.logits_table.weight, dim=-1)
    expected = -logp[ids[:-1], ids[1:]].mean().item()
    assert result.chars == 100
    assert result.loss == pytest.approx(expected, rel=1e-6)
    assert result.bits_per_char == pytest.approx(expected / math.log(2))


def test_exact_evaluation_of_gpt_matches_windowed_forward():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=9, block_size=10, n_embd=16, n_head=2, n_layer=1)).eval()
    ids = torch.randint(0, 9, (35,))  # 34 objetivos: ventanas de 10, 10, 10 y 4
    total = 0.0
    for s in range(0, 34, 10):
        n = min(10, 34 - s)
        logits, _ = model(ids[None, s : s + n])
        total += F.cross_entropy(logits[0], ids[s + 1 : s + 1 + n], reduction="sum").item()
    assert evaluate_ids(model, ids, torch.device("cpu")).loss == pytest.approx(total / 34)


def test_split_is_deterministic_90_10():
    ids = torch.arange(1000)
    train, val = split_ids(ids)
    assert len(train) == 900 and len(val) == 100 and val[0] == 900


def test_warmup_then_cosine_schedule():
    lrs = [lr_at(s, 1e-3, 10, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))  # solo baja
    assert lrs[-1] == pytest.approx(1e-4, rel=0.01)  # termina en la décima parte

"""El bucle de entrenamiento: reanudación exacta y la cota de calidad del bigrama."""

import json
import math

import torch

from shared.checkpoints.files import load_checkpoint
from shared.tokenizer import CharTokenizer
from tests.helpers.cli import ROOT, run_module
from trainer.data import read_text, split_ids
from trainer.loop import Trainer
from trainer.run_files import load_resume_state
from trainer.settings import TrainSettings


def tiny_settings(data, ckdir, run_name, **kw) -> TrainSettings:
    base = dict(
        model="gpt", data=str(data), max_steps=60, batch_size=8, block_size=32, n_embd=32,
        n_head=2, n_layer=1, dropout=0.1, eval_interval=20, eval_iters=2,
        checkpoint_dir=str(ckdir), run_name=run_name, device="cpu",
    )  # fmt: skip
    base.update(kw)
    return TrainSettings(**base)


def test_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tiny_data, tmp_path):
    full = Trainer(tiny_settings(tiny_data, tmp_path, "full"), progress=False, log=lambda m: None)
    full_result = full.run()

    cut = Trainer(
        tiny_settings(tiny_data, tmp_path, "cut"),
        should_stop=lambda step: step == 27,  # el mismo camino que SIGTERM
        progress=False,
        log=lambda m: None,
    )
    cut_result = cut.run()
    assert cut_result.interrupted and cut_result.step == 27
    assert load_checkpoint(cut_result.checkpoint_path).step == 27

    state = load_resume_state(cut_result.checkpoint_path)
    settings = TrainSettings.from_dict(state.settings)
    resumed = Trainer(settings, resume=state, progress=False, log=lambda m: None).run()
    assert resumed.step == full_result.step == 60
    a = load_checkpoint(full_result.checkpoint_path).state_dict
    b = load_checkpoint(resumed.checkpoint_path).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert resumed.val_loss == full_result.val_loss


def test_metrics_jsonl_is_written_beside_the_checkpoint(tiny_data, tmp_path):
    result = Trainer(
        tiny_settings(tiny_data, tmp_path, "m", max_steps=40), progress=False, log=lambda m: None
    ).run()
    lines = (tmp_path / "m.metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records if "val_loss" in r] == [20, 40]
    assert records[-1]["final"] and math.isclose(
        records[-1]["val_loss_exact"], result.val_loss, abs_tol=1e-4
    )


def count_bigram_floor(text: str) -> float:
    """La mejor bigrama por conteo: tabla de frecuencias del split de entrenamiento con
    suavizado add-α (α elegido en validación), evaluada en el split de validación."""
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text))
    train, val = split_ids(ids)
    v = tok.vocab_size
    counts = torch.zeros(v, v, dtype=torch.float64)
    counts.index_put_(
        (train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64), accumulate=True
    )
    best = math.inf
    for alpha in (1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0):
        probs = (counts + alpha) / (counts + alpha).sum(1, keepdim=True)
        best = min(best, -probs.log()[val[:-1], val[1:]].mean().item())
    return best


def test_seed_bigram_command_reaches_the_count_based_floor(tmp_path):
    """La orden del bigrama de docs/entrenar.md queda a < 0,02 nats de la bigrama por conteo."""
    data = ROOT / "data" / "tiny_spanish.txt"
    floor = count_bigram_floor(read_text(data))
    run_module(
        "trainer", "--model", "bigram", "--data", str(data), "--max-steps", "2000",
        "--checkpoint-dir", str(tmp_path), "--run-name", "bigram", "--no-progress",
        check=True, timeout=600,
    )  # fmt: skip
    proc = run_module(
        "trainer.evaluate", "--ckpt", str(tmp_path / "bigram.pt"), "--json", check=True
    )
    loss = json.loads(proc.stdout)["loss"]
    assert floor <= loss + 1e-3, "una bigrama aprendida no puede batir a la óptima por conteo"
    assert loss - floor < 0.02, f"bigrama {loss:.4f} frente a la cota {floor:.4f}"

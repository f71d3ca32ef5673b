"""Entrenamiento con varios procesos: torchrun real, 2 procesos en CPU con gloo.

Nada simulado: torchrun lanza dos intérpretes que se comunican por loopback. Lo que no se puede
probar aquí es nccl (necesita GPUs CUDA); el código es el mismo salvo el backend.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from shared.checkpoints.files import load_checkpoint, load_model
from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS, run_module
from trainer.distributed import rescale_grad_accum

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def torchrun(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*TORCHRUN, *args],
        cwd=ROOT,
        env=SUBPROCESS_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"torchrun falló ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_two_processes_train_and_rank0_alone_writes(tiny_data, tmp_path):
    proc = torchrun(
        "-m", "trainer", *TINY_GPT_ARGS, "--data", str(tiny_data), "--max-steps", "30",
        "--eval-interval", "10", "--checkpoint-dir", str(tmp_path), "--run-name", "ddp",
    )  # fmt: skip
    out = proc.stdout
    assert "2 procesos (gloo): lote efectivo de 2 × 8 × 1 = 16 secuencias" in out
    # Un solo rank habla: cada evaluación y el resumen salen una vez.
    assert out.count("Resumen del entrenamiento") == 1
    assert out.count("paso 10/30") == 1

    records = metrics(tmp_path / "ddp.metrics.jsonl")
    assert [r["step"] for r in records if "val_loss" in r] == [10, 20, 30]
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert all(math.isfinite(v) for v in vals) and vals[-1] < vals[0] - 0.05
    # Solo el rank 0 escribe: checkpoint, métricas y su curva.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ddp.metrics.jsonl", "ddp.png", "ddp.pt", "mini.txt",
    ]  # fmt: skip

    model, tokenizer, ckpt = load_model(tmp_path / "ddp.pt")
    assert ckpt.step == 30 and math.isclose(
        ckpt.val_loss, records[-1]["val_loss_exact"], abs_tol=1e-4
    )
    # El checkpoint es el mismo formato que con un proceso (sin el prefijo "module." de DDP).
    assert not any(k.startswith("module.") for k in ckpt.state_dict)
    assert ckpt.train_state["world_size"] == 2
    assert len(ckpt.train_state["rng"]["per_rank"]) == 2
    ids = torch.tensor([tokenizer.encode("Línea")])
    assert model(ids)[0].shape == (1, 5, tokenizer.vocab_size)

    # Reanudar con 1 proceso: --grad-accum pasa de 1 a 2 y el lote efectivo sigue siendo 16.
    proc = run_module(
        "trainer", "--resume", "--max-steps", "34", "--checkpoint-dir", str(tmp_path),
        "--no-progress", check=True,
    )  # fmt: skip
    assert "2 → 1 procesos: --grad-accum 1 → 2" in proc.stderr
    resumed = load_checkpoint(tmp_path / "ddp.pt")
    assert resumed.step == 34
    assert resumed.train_state["settings"]["grad_accum"] == 2
    assert resumed.train_state["world_size"] == 1


STOPPABLE_RUN = textwrap.dedent(
    """
    import sys
    from trainer.loop import Trainer
    from trainer.run_files import load_resume_state
    from trainer.settings import TrainSettings

    data, ckdir, name, stop_at, resume = sys.argv[1:6]
    settings = TrainSettings(
        model="gpt", data=data, max_steps=24, batch_size=8, block_size=32, n_embd=32,
        n_head=2, n_layer=1, dropout=0.1, eval_interval=8, eval_iters=2,
        checkpoint_dir=ckdir, run_name=name, device="cpu", grad_accum=2,
    )
    state = load_resume_state(resume) if resume != "-" else None
    if state:
        settings = TrainSettings.from_dict(state.settings)
    import os
    rank = int(os.environ["RANK"])
    # Solo el rank 1 pide parar (como si solo a él le llegara la señal): paran todos a la vez.
    stop = (lambda step: rank == 1 and step == int(stop_at)) if stop_at != "-" else None
    kwargs = {"should_stop": stop} if stop else {}
    r = Trainer(settings, resume=state, progress=False, **kwargs).run()
    print(f"rank {rank} step {r.step} interrupted {r.interrupted}")
    """
)


def test_interrupted_ddp_run_resumes_bit_for_bit(tiny_data, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(STOPPABLE_RUN, encoding="utf-8")
    d = str(tmp_path)
    torchrun(str(script), str(tiny_data), d, "full", "-", "-")
    cut = torchrun(str(script), str(tiny_data), d, "cut", "13", "-")
    assert "rank 0 step 13 interrupted True" in cut.stdout
    assert "rank 1 step 13 interrupted True" in cut.stdout
    assert load_checkpoint(tmp_path / "cut.pt").step == 13
    torchrun(str(script), str(tiny_data), d, "cut", "-", str(tmp_path / "cut.pt"))

    full, resumed = load_checkpoint(tmp_path / "full.pt"), load_checkpoint(tmp_path / "cut.pt")
    assert full.step == resumed.step == 24
    for key, value in full.state_dict.items():
        torch.testing.assert_close(value, resumed.state_dict[key], rtol=0, atol=0)
    assert full.val_loss == resumed.val_loss


def test_grad_accum_rescaling_keeps_the_effective_batch():
    assert rescale_grad_accum(4, 1, 2) == 2  # 1 × 4 = 2 × 2
    assert rescale_grad_accum(1, 2, 1) == 2
    assert rescale_grad_accum(2, 2, 4) == 1
    assert rescale_grad_accum(1, 1, 2) is None  # no hay medio microlote
    assert rescale_grad_accum(3, 2, 4) is None

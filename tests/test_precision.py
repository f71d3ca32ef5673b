"""``--dtype auto``: bf16 solo donde se sabe o se ha medido más rápido que float32.

La decisión se prueba con juegos de flags de CPU explícitos (leer /proc/cpuinfo es solo la
frontera); la CLI de verdad dice en su registro qué eligió en esta máquina y por qué.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import TINY_GPT_ARGS, run_module
from trainer.loop import Trainer
from trainer.precision import bf16_verdict, cpu_flags
from trainer.settings import TrainSettings

# Flags de dos CPUs reales (recortados): una con AMX y otra con AVX512-BF16 sin AMX.
SAPPHIRE_RAPIDS = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}
COOPER_LAKE = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}


@pytest.mark.parametrize(
    ("device", "flags", "cuda_bf16", "fast", "reason"),
    [
        ("cpu", SAPPHIRE_RAPIDS, False, True, "AMX"),
        ("cpu", COOPER_LAKE, False, False, "AVX512-BF16 pero no AMX"),
        ("cpu", {"avx2", "fma"}, False, False, "no tiene AMX"),
        ("cpu", {"amx_tile"}, False, False, "no tiene AMX"),  # sin amx_bf16 no hay bf16 en tiles
        ("cpu", set(), False, False, "no tiene AMX"),  # macOS/Windows: no hay /proc/cpuinfo
        ("cuda", set(), True, True, "GPU multiplica bf16"),
        ("cuda", SAPPHIRE_RAPIDS, False, False, "anterior a Ampere"),
        ("mps", SAPPHIRE_RAPIDS, False, False, "mps"),
    ],
)
def test_bf16_only_where_it_is_faster(device, flags, cuda_bf16, fast, reason) -> None:
    verdict, why = bf16_verdict(device, flags, cuda_bf16)
    assert verdict is fast
    assert reason in why


def test_cli_reports_what_auto_chose_and_why(tiny_data, tmp_path) -> None:
    proc = run_module(
        "trainer", *TINY_GPT_ARGS, "--data", str(tiny_data), "--max-steps", "2",
        "--dtype", "auto", "--checkpoint-dir", str(tmp_path), "--run-name", "auto",
        check=True,
    )  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Precisión:"))
    amx = {"amx_bf16", "amx_tile"} <= cpu_flags()
    expected = "bfloat16 con autocast" if amx else "float32"
    assert line.startswith(f"Precisión: {expected} (--dtype auto: la CPU "), line
    assert ("tiene AMX" if amx else "AMX") in line


@pytest.mark.parametrize(("model", "fused"), [("gpt", True), ("bigram", None)])
def test_the_trainer_builds_adamw_from_the_models_groups(model, fused, tiny_data, tmp_path):
    """El modelo da sus grupos de parámetros; el entrenador elige el núcleo de AdamW: fusionado
    para el GPT en CPU, el de siempre para el bigrama (así sus números no cambian)."""
    settings = TrainSettings(
        model=model, data=str(tiny_data), n_embd=32, n_head=2, n_layer=1, block_size=32,
        batch_size=8, device="cpu", checkpoint_dir=str(tmp_path), run_name="opt",
    )  # fmt: skip
    trainer = Trainer(settings, log=lambda message: None, progress=False)
    for _ in trainer.timed_steps(1):
        pass
    opt = trainer.optimizer
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["fused"] is fused
    expected = trainer.model.optimizer_groups(settings.decay)
    assert [g["weight_decay"] for g in opt.param_groups] == [g["weight_decay"] for g in expected]
    assert [g["params"] for g in opt.param_groups] == [g["params"] for g in expected]
    assert opt.defaults["lr"] == settings.learning_rate and opt.state  # y ya ha dado un paso

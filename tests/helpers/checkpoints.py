"""El único constructor de checkpoints diminutos: el entrenador real (``python -m trainer``)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import ROOT, TINY_GPT_ARGS, run_module

DATA = ROOT / "data" / "tiny_spanish.txt"


def train_tiny(
    directory: Path,
    run_name: str = "tiny",
    max_steps: int = 40,
    data: Path = DATA,
    model: str = "gpt",
) -> Path:
    """Entrena con la CLI real (unos segundos) y devuelve el ``.pt``: un GPT diminuto
    (``TINY_GPT_ARGS``) o, con ``model="bigram"``, un bigrama."""
    if model == "gpt":
        shape = TINY_GPT_ARGS
    else:
        shape = ["--model", model, "--eval-interval", str(max_steps), "--eval-iters", "1",
                 "--no-progress"]  # fmt: skip
    run_module(
        "trainer", *shape, "--data", str(data), "--max-steps", str(max_steps),
        "--checkpoint-dir", str(directory), "--run-name", run_name, "--seed", "1337",
        timeout=300, check=True,
    )  # fmt: skip
    return directory / f"{run_name}.pt"

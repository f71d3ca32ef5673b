"""Lo necesario para reanudar un entrenamiento exactamente donde se quedó."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shared.checkpoints.files import Checkpoint, load_checkpoint, load_latest_usable
from shared.common.errors import CheckpointError
from trainer.errors import warn_skipped_checkpoint


@dataclass
class ResumeState:
    checkpoint: Checkpoint
    path: Path
    optimizer_state: dict[str, Any]
    rng: dict[str, Any]
    settings: dict[str, Any]


def rng_state(batch_gen: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "batches": batch_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], batch_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    batch_gen.set_state(state["batches"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def find_resume_checkpoint(resume: str, checkpoint_dir: str) -> Path:
    """El fichero indicado, o el último utilizable de --checkpoint-dir (shared/checkpoints)."""
    if resume != "latest":
        return Path(resume)
    if not Path(checkpoint_dir).is_dir():
        raise CheckpointError(
            f"--resume: no hay ningún checkpoint en '{checkpoint_dir}' desde el que continuar."
        )
    try:
        _, path = load_latest_usable(checkpoint_dir, on_skip=warn_skipped_checkpoint)
    except CheckpointError as exc:
        raise CheckpointError(f"--resume: {exc}") from exc
    return path


def load_resume_state(path: Path) -> ResumeState:
    ckpt = load_checkpoint(path)
    ts = ckpt.train_state
    try:
        state = ResumeState(ckpt, path, ts["optimizer"], ts["rng"], dict(ts["settings"]))
        torch.Generator().set_state(state.rng["batches"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(
            f"'{path}' no guarda el estado necesario para reanudar (optimizador y generadores)."
        ) from exc
    return state

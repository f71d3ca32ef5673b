"""Los ficheros de un entrenamiento: dónde escribe, cómo guarda su checkpoint y cómo se reanuda.

Regla de nombres: nada se sobrescribe por sorpresa.

- Un entrenamiento nuevo escribe ``<checkpoint-dir>/<run-name>.pt``. Si ese fichero (o sus
  métricas) ya existe, se niega con un error, salvo con ``--overwrite``. Con el nombre por
  defecto (``<modelo>-<fecha>-<hora>``) no se niega: se añade ``-2``, ``-3``... hasta uno libre.
- ``--resume FICHERO`` escribe junto al fichero que reanuda y con su nombre: continúa ese
  fichero, esté donde esté, y no otro que se llame igual en el directorio actual. Un
  ``--checkpoint-dir`` o un ``--run-name`` explícitos mandan sobre eso (para seguir en otro
  sitio o con otro nombre), con la misma regla: reemplazar otro entrenamiento exige
  ``--overwrite``.

Guardar: un solo fichero por entrenamiento, reemplazado de forma atómica en cada evaluación
(shared/checkpoints/files.py). Reanudar: ese fichero lleva, además del modelo, el optimizador y
los generadores de números aleatorios de cada proceso, para seguir exactamente donde se quedó.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shared.checkpoints.files import (
    METRICS_SUFFIX,
    Checkpoint,
    load_checkpoint,
    load_latest_usable,
    save_checkpoint,
)
from shared.checkpoints.files import (
    SUFFIX as CHECKPOINT_SUFFIX,
)
from shared.common.errors import CheckpointError, ConfigError
from trainer.distributed import DistContext, batch_seed, gather_objects
from trainer.errors import find_os_error, save_error, warn_skipped_checkpoint
from trainer.settings import TrainSettings


@dataclass
class ResumeState:
    checkpoint: Checkpoint
    path: Path
    optimizer_state: dict[str, Any]
    rng: dict[str, Any]
    settings: dict[str, Any]

    def restore(
        self, optimizer: torch.optim.Optimizer, batch_gen: torch.Generator, rank: int, seed: int
    ) -> None:
        """El optimizador y los generadores de este rank, tal como estaban al guardar."""
        optimizer.load_state_dict(self.optimizer_state)
        per_rank = self.rng.get("per_rank") or [self.rng]
        if rank < len(per_rank):
            restore_rng(per_rank[rank], batch_gen)
            return
        # Más procesos que al guardar: este rank empieza secuencias nuevas, distintas de las demás.
        fresh = batch_seed(seed + self.checkpoint.step, rank)
        batch_gen.manual_seed(fresh)
        torch.manual_seed(fresh)


def rng_state(batch_gen: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "batches": batch_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def gather_rng(dist: DistContext, batch_gen: torch.Generator) -> dict[str, Any] | None:
    """Los generadores de todos los ranks, juntos en el 0 (los demás reciben None: no guardan).

    Todos los ranks deben llamar aquí a la vez."""
    rng = rng_state(batch_gen)
    per_rank = gather_objects(dist, rng)
    if not dist.is_main:
        return None
    if dist.enabled:
        rng = {**rng, "per_rank": per_rank}  # "torch" y "batches" del rank 0, como siempre
    return rng


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


def run_files(checkpoint_dir: str, run_name: str) -> tuple[Path, Path]:
    base = Path(checkpoint_dir)
    return base / f"{run_name}{CHECKPOINT_SUFFIX}", base / f"{run_name}{METRICS_SUFFIX}"


def _taken(checkpoint_dir: str, run_name: str) -> bool:
    return any(p.exists() for p in run_files(checkpoint_dir, run_name))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def place_run(
    settings: TrainSettings,
    given: set[str],
    resume: ResumeState | None,
    overwrite: bool,
) -> None:
    """Fija ``settings.checkpoint_dir`` y ``settings.run_name`` según la regla del módulo.

    ``given`` son los ajustes que el usuario escribió en la línea de comandos.
    """
    if resume is not None:
        if "checkpoint_dir" not in given:
            settings.checkpoint_dir = str(resume.path.parent)
        if "run_name" not in given:
            settings.run_name = resume.path.name.removesuffix(CHECKPOINT_SUFFIX)
        target, _ = run_files(settings.checkpoint_dir, settings.run_name)
        if target.exists() and not _same_file(target, resume.path) and not overwrite:
            raise ConfigError(
                f"reanudar '{resume.path}' escribiría en '{target}', que es otro entrenamiento. "
                "Elige otro --run-name o --checkpoint-dir, o añade --overwrite para reemplazarlo."
            )
        return
    if overwrite or not _taken(settings.checkpoint_dir, settings.run_name):
        return
    if "run_name" in given:
        target, _ = run_files(settings.checkpoint_dir, settings.run_name)
        raise ConfigError(
            f"ya existe un entrenamiento llamado '{settings.run_name}' ({target}). "
            "Para continuarlo: --resume; para empezar otro: un --run-name distinto (RUN_NAME en "
            ".env); para reemplazarlo: --overwrite (en Docker, TRAIN_ARGS=--overwrite)."
        )
    # Nombre por defecto repetido (dos entrenamientos en el mismo segundo): uno libre.
    base = settings.run_name
    n = 2
    while _taken(settings.checkpoint_dir, f"{base}-{n}"):
        n += 1
    settings.run_name = f"{base}-{n}"


class CheckpointWriter:
    """Escribe el checkpoint de un entrenamiento (siempre el mismo fichero) y, si el disco falla,
    explica qué sigue a salvo: el último paso guardado o el checkpoint reanudado."""

    def __init__(self, path: Path, resumed: Path | None) -> None:
        self.path = path
        self.resumed = resumed
        self.saved_step: int | None = None

    def save(self, ckpt: Checkpoint) -> Path:
        try:
            path = save_checkpoint(ckpt, self.path)
        except (OSError, RuntimeError) as exc:
            os_error = find_os_error(exc)
            if os_error is None:
                raise
            raise save_error(ckpt.step, os_error, self.path, self.saved_step, self.resumed) from exc
        self.saved_step = ckpt.step
        return path

"""Dónde escribe un entrenamiento. Regla: nada se sobrescribe por sorpresa.

- Un entrenamiento nuevo escribe ``<checkpoint-dir>/<run-name>.pt``. Si ese fichero (o sus
  métricas) ya existe, se niega con un error, salvo con ``--overwrite``. Con el nombre por
  defecto (``<modelo>-<fecha>-<hora>``) no se niega: se añade ``-2``, ``-3``... hasta uno libre.
- ``--resume FICHERO`` escribe junto al fichero que reanuda y con su nombre: continúa ese
  fichero, esté donde esté, y no otro que se llame igual en el directorio actual. Un
  ``--checkpoint-dir`` o un ``--run-name`` explícitos mandan sobre eso (para seguir en otro
  sitio o con otro nombre), con la misma regla: reemplazar otro entrenamiento exige
  ``--overwrite``.
"""

from __future__ import annotations

from pathlib import Path

from shared.checkpoints.files import METRICS_SUFFIX
from shared.common.errors import ConfigError
from trainer.resume import ResumeState
from trainer.settings import TrainSettings

CHECKPOINT_SUFFIX = ".pt"


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

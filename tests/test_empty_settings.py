"""Vacío vale lo mismo que sin definir, también para entrenar: compose pasa al entrenador
``MAX_STEPS=`` (y el resto) cuando .env no los define, y un .env puede dejar ``N_EMBD=``.

Se ejecuta lo que ejecutan los usuarios: el entrypoint de la imagen del entrenador (bash, el
mismo fichero) con el Python del proyecto, y el Makefile con `make -n` (lo que `make train`
lanzaría, sin entrenar 2000 pasos).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from trainer.cli import build_parser, settings_from_args
from trainer.settings import TrainSettings, default_checkpoint_dir

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "trainer-entrypoint.sh"
MAKE_SETTINGS = (
    "DATA MAX_STEPS DEVICE CHECKPOINT_DIR N_EMBD N_HEAD N_LAYER BATCH_SIZE "
    "BLOCK_SIZE SEED TRAIN_ARGS PROMPT GEN_TOKENS TEMPERATURE TOP_K"
).split()


def compose_trainer_variables() -> set[str]:
    """Las que compose pasa al entrenador desde .env (``NOMBRE: ${NOMBRE:-}``)."""
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    trainer = text.split("\n  trainer:\n", 1)[1].split("\n  server:\n", 1)[0]
    names = set(re.findall(r"^\s+([A-Z_]+): \$\{\1:-\}", trainer, re.MULTILINE))
    assert {"MAX_STEPS", "N_EMBD", "TRAIN_ARGS"} <= names, names
    return names


def test_trainer_entrypoint_with_every_variable_empty(tmp_path: Path) -> None:
    # Todas vacías (también CHECKPOINT_DIR y NUM_GPUS): rigen los valores por defecto del
    # entrenador. Desde un directorio temporal con ./data, como /app en la imagen, para que los
    # checkpoints por defecto (./checkpoints) caigan allí y no en el repositorio.
    (tmp_path / "data").symlink_to(ROOT / "data")
    empty = dict.fromkeys([*compose_trainer_variables(), "CHECKPOINT_DIR", "NUM_GPUS"], "")
    env = {**os.environ, **empty, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    # Un entrenamiento corto por argumentos (`docker compose run trainer --max-steps 4`), que
    # van al final y mandan; el modelo y los datos son los de por defecto.
    short = ["--max-steps", "4", "--eval-interval", "4", "--eval-iters", "1", "--no-progress"]
    proc = subprocess.run(
        ["bash", str(ENTRYPOINT), *short],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Un modelo por carpeta: sin CHECKPOINT_DIR, el GPT va a checkpoints/gpt.
    ckpts = list((tmp_path / "checkpoints" / "gpt").glob("gpt-*.pt"))
    assert len(ckpts) == 1, proc.stdout


def test_make_train_with_empty_settings_uses_the_defaults(tmp_path: Path) -> None:
    # Vacías en el entorno y también en un .env (el Makefile lo incluye desde su directorio).
    (tmp_path / ".env").write_text("".join(f"{n}=\n" for n in MAKE_SETTINGS))
    # Las marcas de instalación de make, ya hechas en ese directorio: -n no instala nada.
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    (tmp_path / ".venv" / ".installed-runtime").touch()
    env = {**os.environ, **dict.fromkeys(MAKE_SETTINGS, "")}
    for where in (["-C", str(tmp_path)], []):
        proc = subprocess.run(
            ["make", *where, "-f", str(ROOT / "Makefile"), "-n", "train", "generate"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        lines = [" ".join(line.split()) for line in proc.stdout.replace("\\\n", " ").splitlines()]
        train = next(line for line in lines if " -m trainer " in line)
        generate = next(line for line in lines if " -m trainer.generate " in line)
        # Vacías, make no pasa sus flags: rigen los valores por defecto del programa, los mismos
        # que sin make (y no una copia en el Makefile que pueda quedarse atrás).
        args = shlex.split(train.split(" -m trainer ", 1)[1])
        assert args == ["--model", "gpt", "--checkpoint-dir", default_checkpoint_dir("gpt")], train
        settings, _ = settings_from_args(build_parser().parse_args(args))
        defaults = {f.name: f.default for f in fields(TrainSettings)}
        for name in ("data", "max_steps", "device", "batch_size", "block_size", "seed", "n_embd"):
            assert getattr(settings, name) == defaults[name], name
        assert generate.endswith(f'-m trainer.generate --ckpt "{default_checkpoint_dir("gpt")}"')

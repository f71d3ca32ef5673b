"""Nada sobrescribe un entrenamiento por sorpresa, y un disco lleno no pierde nada.

Todo con la CLI real en subprocesos, como la usa una persona.
"""

import os
import resource
import subprocess
import sys

import pytest

from shared.checkpoints.files import load_checkpoint
from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS, run_module
from trainer.run_files import place_run
from trainer.settings import TrainSettings


def train(data, ckdir, *extra: str, steps: int = 20) -> subprocess.CompletedProcess[str]:
    return run_module(
        "trainer", *TINY_GPT_ARGS, "--data", str(data), "--max-steps", str(steps),
        "--checkpoint-dir", str(ckdir), *extra,
    )  # fmt: skip


def test_fresh_run_never_replaces_an_existing_run_name(tiny_data, tmp_path):
    first = train(tiny_data, tmp_path, "--run-name", "exp", steps=40)
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "exp.pt").read_bytes()
    again = train(tiny_data, tmp_path, "--run-name", "exp", steps=20)
    assert again.returncode == 2, again.stderr
    assert again.stderr.startswith("error: ya existe un entrenamiento llamado 'exp'")
    assert "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "exp.pt").read_bytes() == before  # intacto, paso 40
    # Con --overwrite, sí: checkpoint y métricas nuevos (sin las líneas del anterior).
    train(tiny_data, tmp_path, "--run-name", "exp", "--overwrite", steps=20)
    assert load_checkpoint(tmp_path / "exp.pt").step == 20
    metrics = (tmp_path / "exp.metrics.jsonl").read_text(encoding="utf-8")
    assert '"step": 40' not in metrics and '"step": 20' in metrics


def test_default_names_never_collide(tmp_path):
    # Dos entrenamientos con el nombre por defecto en el mismo segundo: el segundo elige otro.
    settings = TrainSettings(model="gpt", checkpoint_dir=str(tmp_path))
    taken = settings.run_name
    (tmp_path / f"{taken}.pt").write_bytes(b"otro entrenamiento")
    (tmp_path / f"{taken}-2.metrics.jsonl").write_text("{}\n")  # también cuentan las métricas
    place_run(settings, given=set(), resume=None, overwrite=False)
    assert settings.run_name == f"{taken}-3"
    assert (tmp_path / f"{taken}.pt").read_bytes() == b"otro entrenamiento"


def test_resume_writes_beside_the_resumed_checkpoint_not_in_the_current_folder(tiny_data, tmp_path):
    # El caso del informe: runs/exp.pt (paso 40) y una copia vieja en backup/ (paso 20).
    runs, backup = tmp_path / "runs", tmp_path / "backup"
    train(tiny_data, backup, "--run-name", "exp", steps=20)
    train(tiny_data, runs, "--run-name", "exp", steps=40)
    runs_before = (runs / "exp.pt").read_bytes()
    # Reanudar la copia vieja desde otro directorio de trabajo con el --checkpoint-dir por
    # defecto: escribe junto a la copia, no en runs/ (que antes se reemplazaba: paso 40 → 30).
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", "--resume", str(backup / "exp.pt"), "--max-steps", "30",
         "--no-progress"],
        cwd=runs, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert load_checkpoint(backup / "exp.pt").step == 30
    assert (runs / "exp.pt").read_bytes() == runs_before
    assert load_checkpoint(runs / "exp.pt").step == 40
    # Un --checkpoint-dir explícito donde ya hay otro "exp": error, salvo --overwrite.
    into_runs = run_module(
        "trainer", "--resume", str(backup / "exp.pt"), "--checkpoint-dir", str(runs),
        "--max-steps", "35", "--no-progress",
    )  # fmt: skip
    assert into_runs.returncode == 2 and "otro entrenamiento" in into_runs.stderr
    assert (runs / "exp.pt").read_bytes() == runs_before
    # Con otro --run-name, el resultado va a un fichero nuevo y los dos originales quedan.
    forked = run_module(
        "trainer", "--resume", str(backup / "exp.pt"), "--checkpoint-dir", str(runs),
        "--run-name", "exp-rama", "--max-steps", "35", "--no-progress", check=True,
    )  # fmt: skip
    assert forked.returncode == 0
    assert load_checkpoint(runs / "exp-rama.pt").step == 35
    assert load_checkpoint(backup / "exp.pt").step == 30


def _limit_file_size(limit: int):
    def apply() -> None:
        # Como un disco lleno: escribir más allá del límite falla con EFBIG (Python ignora
        # SIGXFSZ, así que el write devuelve el error en vez de matar el proceso).
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


# El checkpoint diminuto ocupa ~230 KB. Con 16 KB falla el primer write de Python (OSError);
# con 64 KB falla a mitad de los tensores, dentro de torch.save, que lo envuelve en un
# RuntimeError («enforce fail at inline_container.cc»): dos caminos del mismo disco lleno.
@pytest.mark.parametrize("limit_kb", [16, 64])
def test_disk_full_during_a_save_loses_nothing_and_says_so(tiny_data, tmp_path, limit_kb):
    train(tiny_data, tmp_path, "--run-name", "lleno", steps=20)
    ckpt = tmp_path / "lleno.pt"
    before = ckpt.read_bytes()
    limit = limit_kb * 1024  # cabe el fichero de métricas, no un checkpoint
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", "--resume", str(ckpt), "--max-steps", "40",
         "--no-progress"],
        cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120,
        preexec_fn=_limit_file_size(limit),
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # Una sola línea de error; antes, como mucho, el aviso de que la curva (<run>.png, que
    # tampoco cabe) no se pudo dibujar: dibujar nunca para el entrenamiento.
    *warnings, last = proc.stderr.strip().splitlines()
    assert all(w.startswith("aviso: no se pudo dibujar la curva") for w in warnings), proc.stderr
    assert last.startswith("error: no se pudo guardar el checkpoint del paso 40"), proc.stderr
    assert "supera el tamaño máximo" in proc.stderr and "No se ha perdido nada" in proc.stderr
    assert ckpt.read_bytes() == before  # el anterior, intacto
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # sin temporales


def test_float_flags_must_be_finite(tiny_data, tmp_path):
    for flag, value in [("--weight-decay", "nan"), ("--lr", "inf"), ("--grad-clip", "nan"),
                        ("--dropout", "inf")]:  # fmt: skip
        proc = train(tiny_data, tmp_path, flag, value)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error: {flag}: '{value}' no vale"), proc.stderr
    # El rango lo comprueba la configuración del modelo (shared/config.py), una sola vez.
    proc = train(tiny_data, tmp_path, "--dropout", "1.5")
    assert proc.returncode == 2 and "dropout debe estar en [0, 1)" in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("*.pt"))

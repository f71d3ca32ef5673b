"""Cada entrenamiento dibuja su curva (<run>.png) y ``python -m trainer.plot`` superpone varias."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS, run_module

CURVE_SHAPE = (450, 800, 4)  # 8 × 4,5 pulgadas a 100 ppp, RGBA
ORANGE = np.array([1.0, 0.498, 0.055])  # "C1" de matplotlib: el color de la segunda ejecución


def color_pixels(png: Path, rgb: np.ndarray) -> int:
    image = imread(png)[..., :3]
    return int((np.abs(image - rgb).max(axis=-1) < 0.05).sum())


def train(data: Path, out: Path, name: str, env: dict | None = None, steps: int = 20):
    return subprocess.run(
        [sys.executable, "-m", "trainer", *TINY_GPT_ARGS, "--data", str(data),
         "--max-steps", str(steps), "--eval-interval", "10", "--checkpoint-dir", str(out),
         "--run-name", name],
        cwd=ROOT, env=env or SUBPROCESS_ENV, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_training_writes_its_curve_beside_the_checkpoint(tiny_checkpoint):
    png = tiny_checkpoint.with_suffix(".png")
    assert png.is_file()
    assert imread(png).shape == CURVE_SHAPE
    # Dibujada desde el JSONL: la última versión llega tras la línea final (pérdida exacta).
    metrics = tiny_checkpoint.parent / "tiny.metrics.jsonl"
    assert json.loads(metrics.read_text(encoding="utf-8").splitlines()[-1])["final"] is True
    assert png.stat().st_mtime_ns >= metrics.stat().st_mtime_ns


def test_plot_overlays_several_runs(tiny_checkpoint, tmp_path):
    # Una segunda ejecución como JSONL (lo que el entrenador escribe), con pérdidas distintas.
    other = tmp_path / "otra.metrics.jsonl"
    other.write_text(
        "".join(
            json.dumps({"step": s, "train_loss": 4.0 - s / 20, "val_loss": 4.1 - s / 20}) + "\n"
            for s in (10, 20, 30, 40)
        ),
        encoding="utf-8",
    )
    one, two = tmp_path / "una.png", tmp_path / "dos.png"
    run_module("trainer.plot", str(tiny_checkpoint), "--out", str(one), check=True)
    proc = run_module(
        "trainer.plot", str(tiny_checkpoint), str(other), "--out", str(two), check=True
    )
    assert "2 ejecuciones" in proc.stdout
    assert imread(one).shape == imread(two).shape == CURVE_SHAPE
    # La segunda curva (naranja) solo está en la figura superpuesta.
    assert color_pixels(one, ORANGE) == 0
    assert color_pixels(two, ORANGE) > 200


def test_plot_finds_a_run_by_name(tiny_checkpoint, tmp_path):
    out = tmp_path / "por-nombre.png"
    run_module(
        "trainer.plot", "tiny", "--checkpoint-dir", str(tiny_checkpoint.parent), "--out", str(out),
        check=True,
    )  # fmt: skip
    assert imread(out).shape == CURVE_SHAPE


def test_plot_unknown_run_is_a_clean_error(tmp_path):
    proc = run_module("trainer.plot", "no-existe", "--checkpoint-dir", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: no hay métricas para 'no-existe'")


def test_a_drawing_failure_only_warns(tiny_data, tmp_path):
    (tmp_path / "roto.png").mkdir()  # la figura no se puede escribir: ahí hay un directorio
    proc = train(tiny_data, tmp_path, "roto")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("aviso: no se pudo dibujar la curva de pérdida") == 1
    assert (tmp_path / "roto.pt").is_file() and "Resumen del entrenamiento" in proc.stdout


def test_without_matplotlib_training_goes_on_without_figure(tiny_data, tmp_path):
    fake = tmp_path / "sin-matplotlib" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib no está (prueba)')\n")
    env = {**SUBPROCESS_ENV, "PYTHONPATH": f"{fake.parent}:{ROOT}"}
    out = tmp_path / "ck"
    proc = train(tiny_data, out, "sin", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out / "sin.pt").is_file() and not (out / "sin.png").exists()
    assert "aviso" not in proc.stderr


def test_axis_numbers_have_a_decimal_comma(tmp_path):
    """Lo que dibuja ``save_figure`` (curvas, barrido, atención) lleva 2,30 en los ejes, no 2.30."""
    from trainer.plot import new_figure, save_figure

    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot([0, 1000, 2000], [2.325, 2.318, 2.316])  # el bigrama: el eje se acerca mucho
    image = ax.imshow([[0.0, 0.5], [0.25, 1.0]], vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax)
    save_figure(fig, tmp_path / "ejes.png")
    texts = [t.get_text() for a in fig.axes for t in a.get_yticklabels()]
    texts.append(fig.axes[0].yaxis.get_offset_text().get_text())
    assert any("," in t for t in texts), texts
    assert not any("." in t for t in texts), texts

"""Curvas de pérdida dibujadas a partir del JSONL de métricas que escribe el entrenador.

``python -m trainer.plot RUN...`` superpone varias ejecuciones en una figura. El entrenador usa
``draw_run_curve`` para dejar ``<run>.png`` junto a ``<run>.pt`` en cada evaluación.

matplotlib se importa solo al dibujar, con el backend Agg (sin ventana): funciona en un
servidor, en Docker y en las pruebas.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.checkpoints.files import METRICS_SUFFIX
from shared.common.argparse_es import SpanishArgumentParser
from shared.common.errors import LLMError
from shared.common.spanish_numbers import decimal_comma
from trainer import settings as defaults
from trainer.errors import run_cli

FIGURE_SIZE = (8.0, 4.5)  # pulgadas; a 100 ppp, 800 × 450 píxeles
DPI = 100


class PlotError(LLMError):
    """No hay métricas que dibujar o no se puede escribir la figura."""


@dataclass
class Curve:
    """Las pérdidas de una ejecución, tal como las anotó el entrenador."""

    label: str
    train_steps: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    final_step: int | None = None
    final_val: float | None = None  # pérdida exacta sobre todo el split de validación


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Las líneas del JSONL; una línea a medio escribir (el entrenador sigue vivo) se ignora."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def curve_from_records(label: str, records: list[dict[str, Any]]) -> Curve:
    curve = Curve(label)
    for r in records:
        if isinstance(r.get("train_loss"), int | float):
            curve.train_steps.append(r["step"])
            curve.train.append(float(r["train_loss"]))
        if isinstance(r.get("val_loss"), int | float):
            curve.val_steps.append(r["step"])
            curve.val.append(float(r["val_loss"]))
        if isinstance(r.get("val_loss_exact"), int | float):
            curve.final_step, curve.final_val = r["step"], float(r["val_loss_exact"])
    return curve


def run_label(metrics_path: Path) -> str:
    return metrics_path.name.removesuffix(METRICS_SUFFIX)


def resolve_metrics(run: str, checkpoint_dir: str) -> Path:
    """RUN puede ser un .pt, un .jsonl o el nombre de una ejecución de ``checkpoint_dir``."""
    path = Path(run)
    if path.suffix == ".pt":
        path = path.with_name(path.name.removesuffix(".pt") + METRICS_SUFFIX)
    elif path.suffix != ".jsonl":
        path = Path(checkpoint_dir) / f"{run}{METRICS_SUFFIX}"
    if not path.is_file():
        raise PlotError(
            f"no hay métricas para '{run}': no existe '{path}'. Pasa un .pt, un .jsonl o el "
            f"nombre de una ejecución de '{checkpoint_dir}'."
        )
    return path


def load_curve(metrics_path: Path, label: str | None = None) -> Curve:
    return curve_from_records(label or run_label(metrics_path), read_metrics(metrics_path))


def save_figure(fig: Any, out: Path) -> Path:
    """Escribe el PNG de forma atómica: quien lo lea nunca ve una imagen a medias."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    spanish_ticks(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def spanish_ticks(fig: Any) -> None:
    """Los números de los ejes (y de la barra de color) con coma decimal: 2,30, no 2.30."""
    from matplotlib.ticker import ScalarFormatter

    class CommaFormatter(ScalarFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return decimal_comma(super().__call__(x, pos))

        def get_offset(self) -> str:
            return decimal_comma(super().get_offset())

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            # Solo los de números: las etiquetas fijas (caracteres, valores del barrido) se quedan.
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(CommaFormatter())


def new_figure(size: tuple[float, float] = FIGURE_SIZE) -> Any:
    # Figure sin pyplot: no toca estado global ni abre ventanas (backend Agg al guardar).
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


def draw_curves(curves: list[Curve], out: Path, title: str) -> Path:
    """Pérdida de entrenamiento (discontinua) y de validación (continua) frente al paso."""
    fig = new_figure()
    ax = fig.add_subplot()
    for i, c in enumerate(curves):
        color = f"C{i % 10}"
        if c.val:
            val_label = f"{c.label} (validación)"
            ax.plot(c.val_steps, c.val, color=color, marker="o", ms=3, label=val_label)
        if c.train:
            train_label = f"{c.label} (entrenamiento)"
            ax.plot(c.train_steps, c.train, color=color, ls="--", label=train_label)
        if c.final_val is not None:
            ax.plot([c.final_step], [c.final_val], color=color, marker="*", ms=10, ls="none")
    ax.set_title(title)
    ax.set_xlabel("paso")
    ax.set_ylabel("pérdida (nats por carácter)")
    ax.grid(alpha=0.3)
    if any(c.train or c.val for c in curves):
        ax.legend(fontsize="small")
    ax.text(
        0.99,
        0.99,
        "★ = pérdida exacta de validación al final",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize="x-small",
        color="0.4",
    )
    return save_figure(fig, out)


def curve_png_for(metrics_path: Path) -> Path:
    """``<run>.metrics.jsonl`` → ``<run>.png`` (junto a ``<run>.pt``)."""
    return metrics_path.with_name(run_label(metrics_path) + ".png")


def draw_run_curve(metrics_path: Path) -> Path:
    """La figura de una ejecución; la llama el entrenador tras anotar cada evaluación."""
    label = run_label(metrics_path)
    title = f"Curva de pérdida: {label}"
    return draw_curves([load_curve(metrics_path, label)], curve_png_for(metrics_path), title)


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m trainer.plot",
        description="Dibuja las curvas de pérdida (entrenamiento y validación) de una o varias "
        "ejecuciones en una sola figura PNG, a partir de sus métricas JSONL.",
        epilog="Ejemplo: python -m trainer.plot checkpoints/bigram-1.pt gpt-2 --out curvas.png",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help="un .pt, un .metrics.jsonl o un nombre de ejecución"
    )
    p.add_argument("--out", default="curvas.png", help="fichero PNG de salida")
    p.add_argument(
        "--checkpoint-dir",
        default=defaults.DEFAULT_CHECKPOINT_DIR,
        help="dónde buscar las ejecuciones dadas por nombre",
    )
    p.add_argument("--title", default="Curvas de pérdida", help="título de la figura")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    paths = [resolve_metrics(run, args.checkpoint_dir) for run in args.runs]
    curves = [load_curve(path) for path in paths]
    empty = [c.label for c in curves if not (c.train or c.val)]
    if empty:
        raise PlotError(f"sin evaluaciones todavía en: {', '.join(empty)}.")
    try:
        out = draw_curves(curves, Path(args.out), args.title)
    except ImportError as exc:
        raise PlotError("hace falta matplotlib (make install lo instala).") from exc
    except OSError as exc:
        raise PlotError(f"no se puede escribir '{args.out}': {exc.strerror or exc}.") from exc
    n = len(curves)
    print(f"Figura con {n} {'ejecución' if n == 1 else 'ejecuciones'}: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

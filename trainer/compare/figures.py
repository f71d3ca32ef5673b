"""Las figuras de la comparación, dibujadas con las mismas piezas que ``python -m trainer.plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.common.spanish_numbers import fmt_float
from trainer.compare.plan import Sweep
from trainer.plot import Curve, load_curve, new_figure, save_figure


def draw_all_curves(curves: list[Curve], out: Path) -> Path:
    """Entrenamiento y validación frente al paso, todas las ejecuciones en una figura."""
    fig = new_figure((12.0, 4.5))
    train_ax, val_ax = fig.subplots(1, 2, sharey=True)
    for i, c in enumerate(curves):
        color = f"C{i % 10}"
        train_ax.plot(c.train_steps, c.train, color=color, label=c.label)
        val_ax.plot(c.val_steps, c.val, color=color, marker="o", ms=3, label=c.label)
        if c.final_val is not None:
            val_ax.plot([c.final_step], [c.final_val], color=color, marker="*", ms=10, ls="none")
    train_ax.set_title("Entrenamiento (estimada con lotes al azar)")
    val_ax.set_title("Validación (★ = exacta, todo el split, al final)")
    train_ax.set_ylabel("pérdida (nats por carácter)")
    for ax in (train_ax, val_ax):
        ax.set_xlabel("paso")
        ax.grid(alpha=0.3)
    if curves:
        val_ax.legend(fontsize="small", loc="upper right")
    fig.suptitle("Curvas de pérdida: bigrama, GPT de la semilla y barrido")
    return save_figure(fig, out)


def draw_sweeps(
    sweeps: tuple[Sweep, ...], records: dict[str, dict[str, Any]], bigram: float | None, out: Path
) -> Path:
    """Pérdida de validación final frente a cada ajuste; la línea gris es el bigrama."""
    fig = new_figure((12.0, 4.0))
    axes = fig.subplots(1, len(sweeps), sharey=True)
    for ax, sweep in zip(axes, sweeps, strict=True):
        points = [(v, records[name]["val_loss"]) for v, name in sweep.points if name in records]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", color="C1", label="GPT")
            for x, y in points:
                ax.annotate(
                    fmt_float(y),
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 7),
                    ha="center",
                    fontsize="small",
                )
        if bigram is not None:
            ax.axhline(bigram, color="0.5", ls="--", label=f"bigrama ({fmt_float(bigram)})")
        values = [v for v, _ in sweep.points]
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
        ax.set_xlim(min(values) / 1.5, max(values) * 1.5)
        ax.set_title(sweep.title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("pérdida de validación (nats por carácter)")
    axes[-1].legend(fontsize="small", loc="upper right")
    fig.suptitle("Barrido: cada panel cambia una sola cosa del GPT de la semilla")
    return save_figure(fig, out)


def draw_bits_vs_time(series: list[tuple[str, list[float], list[float]]], out: Path) -> Path:
    """Bits por carácter de validación frente a los segundos de entrenamiento: caracteres y
    BPE con la misma vara (la pérdida por token no se puede comparar entre tokenizadores)."""
    fig = new_figure((8.0, 4.5))
    ax = fig.add_subplot()
    for i, (label, xs, ys) in enumerate(series):
        ax.plot(xs, ys, marker="o", ms=3, color=f"C{i % 10}", label=label)
        if xs:
            ax.plot([xs[-1]], [ys[-1]], marker="*", ms=10, ls="none", color=f"C{i % 10}")
    ax.set_xlabel("tiempo de entrenamiento (s)")
    ax.set_ylabel("bits por carácter (validación)")
    ax.set_title("Caracteres frente a BPE: mismo GPT, mismos pasos (★ = exacta, al final)")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize="small", loc="upper right")
    return save_figure(fig, out)


def curves_for(runs: list[tuple[str, Path]]) -> list[Curve]:
    """(etiqueta, métricas JSONL) → curvas, en el orden del plan."""
    return [load_curve(path, label) for label, path in runs]

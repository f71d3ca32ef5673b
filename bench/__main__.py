"""``python -m bench`` (o ``make bench``): mide y escribe la tabla y el JSON."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench.busy import measure_busy
from bench.generation import measure_checkpoint_load, measure_generation
from bench.machine import load_average, machine_info, matmul_peak
from bench.report import render, write_json
from bench.serving import measure_serving
from bench.training import SIZES, measure_reference, measure_training
from shared.checkpoints.files import Checkpoint, save_checkpoint
from shared.checkpoints.models import build_model
from shared.common.argparse_es import SpanishArgumentParser, finite_float
from shared.common.device import resolve_device
from shared.common.errors import ConfigError
from trainer import settings as defaults
from trainer.data import TextDataset
from trainer.errors import run_cli
from trainer.precision import fast_bf16, resolve_dtype
from trainer.settings import TrainSettings

SECTIONS = ("training", "generation", "checkpoint", "server", "busy")
# (pasos semilla, pasos 6x384, caracteres generados, peticiones por cliente)
FULL = (300, 20, 500, 3)
QUICK = (40, 4, 100, 1)
# Fila «CPU ocupada» (bench/busy.py): (pasos por entrenamiento, vueltas alternando políticas)
# 200 pasos × 3 vueltas: con 100 × 2, el ruido de una máquina virtual tranquila (±20 % entre
# ejecuciones iguales) tapaba diferencias de pocos % entre políticas (docs/BENCHMARKS.md).
BUSY_FULL = (200, 3)
BUSY_QUICK = (30, 1)


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m bench",
        description="Mide la velocidad del entrenamiento, la generación, el servidor, la carga "
        "de checkpoints y el entrenamiento con la CPU ocupada en esta máquina. Imprime una tabla "
        "y guarda el JSON.",
    )
    p.add_argument("--quick", action="store_true", help="menos pasos y tokens: ~1/5 del tiempo")
    p.add_argument(
        "--out", metavar="FICHERO", default="bench-results/bench.json", help="dónde guardar el JSON"
    )
    p.add_argument(
        "--only",
        metavar="LISTA",
        default=",".join(SECTIONS),
        help=f"secciones a medir: {', '.join(SECTIONS)}",
    )
    p.add_argument(
        "--data", metavar="FICHERO", default=defaults.DEFAULT_DATA, help="texto de entrenamiento"
    )
    p.add_argument(
        "--device",
        metavar="DISPOSITIVO",
        default=TrainSettings.device,
        help="auto, cpu, cuda, cuda:N o mps",
    )
    p.add_argument(
        "--dtypes",
        metavar="LISTA",
        default=None,
        help="precisiones a medir (por defecto float32 y, si el hardware lo acelera, bfloat16)",
    )
    p.add_argument(
        "--sizes",
        metavar="LISTA",
        default=",".join(SIZES),
        help=f"tamaños a entrenar: {', '.join(SIZES)}",
    )
    p.add_argument("--seed-steps", type=int, help="pasos al tamaño de la semilla")
    p.add_argument("--large-steps", type=int, help="pasos al tamaño 6x384")
    p.add_argument("--new-tokens", type=int, help="caracteres por generación")
    p.add_argument(
        "--busy-steps", type=int, help="pasos de cada entrenamiento de la fila «CPU ocupada»"
    )
    p.add_argument(
        "--busy-rounds", type=int, help="vueltas de la fila «CPU ocupada» (alternando políticas)"
    )
    p.add_argument("--compile", action="store_true", help="añadir filas con torch.compile")
    p.add_argument("--threads", type=int, help="hilos de torch (por defecto, los de torch)")
    p.add_argument(
        "--peak-seconds",
        type=finite_float(0.0),
        default=1.0,
        help="segundos por tamaño al medir el pico",
    )
    return p


def untrained_checkpoint(size: str, data: str, workdir: Path) -> Path:
    """Sin la sección de entrenamiento: un modelo sin entrenar (la velocidad no depende de
    los pesos)."""
    s = SIZES[size]
    dataset = TextDataset.from_file(data, s["block_size"])
    settings = TrainSettings(model="gpt", **s)
    model = build_model("gpt", settings.model_config(dataset.tokenizer.vocab_size))
    ckpt = Checkpoint("gpt", model.config, dataset.tokenizer, model.state_dict(), run_name=size)
    return save_checkpoint(ckpt, workdir / f"{size}-sin-entrenar.pt")


def run_training(
    args: argparse.Namespace,
    plan: tuple[int, ...],
    dtypes: list[str],
    workdir: Path,
    results: dict[str, Any],
) -> dict[str, Path]:
    """Filas de entrenamiento; devuelve un checkpoint por tamaño para las demás secciones."""
    steps = {"semilla": args.seed_steps or plan[0], "6x384": args.large_steps or plan[1]}
    rows, ckpts = [], {}
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        if size not in SIZES:
            raise ConfigError(f"tamaño desconocido '{size}'; opciones: {', '.join(SIZES)}.")
        for dtype in dtypes:
            for compiled in (False, True) if args.compile else (False,):
                print(f"entrenando {size} {dtype}{' compile' if compiled else ''}…", flush=True)
                row = measure_training(
                    size, dtype, steps[size], args.data, workdir, args.device, compiled
                )
                rows.append(row)
                ckpts.setdefault(size, Path(row["checkpoint"]))
        if size == "semilla":
            print("entrenando semilla con la implementación directa…", flush=True)
            results["reference"] = measure_reference(
                size, min(steps[size], 60), args.data, args.device
            )
    results["training"] = rows
    return ckpts


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"secciones desconocidas: {', '.join(sorted(unknown))}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else FULL
    device = resolve_device(args.device)
    dtypes = (
        args.dtypes.split(",")
        if args.dtypes
        else ["float32", "bfloat16"]
        if fast_bf16(device)
        else ["float32"]
    )
    results: dict[str, Any] = {"machine": machine_info(device), "quick": args.quick}
    results["machine"]["load_start"] = load = load_average()
    cores = results["machine"]["cores"] or 1
    if load is not None and load > cores:
        print(
            f"aviso: la carga media es {load} con {cores} núcleos: otros procesos usan la CPU y "
            "las cifras saldrán peores y más variables. Con la CPU compartida, --threads 1 evita "
            "que los hilos de torch se esperen unos a otros.",
            file=sys.stderr,
        )
    print("midiendo el pico de matmul…", flush=True)
    # Solo los tipos que se van a medir: sin bf16 en el hardware, una matmul bf16 de 4096
    # tarda minutos (55 s la de 2048 en una CPU con solo AVX2).
    results["peaks"] = {
        name: matmul_peak(getattr(torch, name), device, args.peak_seconds)
        for name in dict.fromkeys(["float32", *dtypes])
    }
    workdir = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    try:
        ckpts: dict[str, Path] = {}
        if "training" in sections:
            ckpts = run_training(args, plan, dtypes, workdir, results)
        for size in SIZES:
            if size not in ckpts:
                ckpts[size] = untrained_checkpoint(size, args.data, workdir)
        if "generation" in sections:
            results["generation"] = []
            for size, path in ckpts.items():
                print(f"generando con {size}…", flush=True)
                repeats = 1 if args.quick else 3
                row = measure_generation(path, args.new_tokens or plan[2], device, repeats)
                results["generation"].append({"size": size, **row})
        if "checkpoint" in sections:
            results["checkpoints"] = [
                {"size": size, **measure_checkpoint_load(path, device)}
                for size, path in ckpts.items()
            ]
        if "server" in sections:
            print("midiendo el servidor…", flush=True)
            served = workdir / "servir"
            served.mkdir()
            shutil.copy(ckpts["semilla"], served / "semilla.pt")
            results["serving"] = measure_serving(
                served, workdir, (1, 4, 16), plan[3], args.new_tokens or plan[2]
            )
        if "busy" in sections:
            # La última: ocupa un núcleo entero mientras dura.
            steps, rounds = BUSY_QUICK if args.quick else BUSY_FULL
            print("midiendo el entrenamiento con la CPU ocupada…", flush=True)
            results["busy"] = measure_busy(
                args.busy_steps or steps, args.busy_rounds or rounds, args.data
            )
            results["busy"]["dtype"] = resolve_dtype(TrainSettings().dtype, device)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_end"] = load_average()
    print()
    print(render(results))
    out = Path(args.out)
    write_json(results, out)
    print(f"\nJSON guardado en {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

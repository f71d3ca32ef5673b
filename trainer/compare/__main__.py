"""``python -m trainer.compare`` (o ``make compare``): entrena, mide, dibuja y escribe."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from shared.common.argparse_es import SpanishArgumentParser
from shared.common.errors import ConfigError, DataError
from shared.common.spanish_numbers import fmt_float
from shared.sampling import SamplingParams
from trainer import settings as defaults
from trainer.cli import StopRequest
from trainer.compare.figures import curves_for, draw_all_curves, draw_bits_vs_time, draw_sweeps
from trainer.compare.plan import (
    FULL,
    QUICK,
    SWEEPS,
    Profile,
    RunSpec,
    adjusted,
    build_plan,
    settings_for,
)
from trainer.compare.report import sweep_table, write_json, write_pages
from trainer.compare.runs import RunFiles, data_digest, load_record, run_key, train_run
from trainer.compare.samples import samples_for, sampling_grid
from trainer.compare.tokens import SAMPLE_SENTENCE, measurements, time_curve, tokenizer_rows
from trainer.console import BAR_FORMAT
from trainer.data import VAL_FRACTION, read_text
from trainer.errors import OutputDirError, run_cli
from trainer.plot import PlotError, draw_curves

EXIT_INTERRUPTED = 130
FIRST_TWO = ("bigrama", "gpt")


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m trainer.compare",
        description="Entrena el bigrama y el mini GPT con las órdenes de la semilla "
        f"({FULL.max_steps} pasos) "
        "y un barrido (bloque 8/32/128, capas 1/2/4, cabezas 1/4) y el mismo GPT con tokens BPE "
        "(vocabulario 256/512/1024, mismos pasos) sobre el mismo texto, y "
        "escribe un informe: curvas, barrido, tabla (Markdown y JSON), muestras y una página "
        "HTML. Lo ya entrenado con los mismos ajustes y texto se reutiliza; Ctrl-C conserva lo "
        "terminado.",
        epilog="Ejemplo: python -m trainer.compare --data data/tiny_spanish.txt "
        "--out build/comparacion --quick",
    )
    p.add_argument("--data", default=defaults.DEFAULT_DATA, help="texto UTF-8 de entrenamiento")
    p.add_argument("--out", default="build/comparacion", help="carpeta del informe")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"versión corta para pruebas y clase: {QUICK.max_steps} pasos, lotes de "
        f"{QUICK.batch_size}, n_embd {QUICK.n_embd}",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        help=f"pasos de cada ejecución (por defecto: {FULL.max_steps}; {QUICK.max_steps} con "
        "--quick)",
    )
    p.add_argument(
        "--sample-chars",
        type=int,
        help=f"caracteres de cada muestra (por defecto: {FULL.sample_chars}; "
        f"{QUICK.sample_chars} con --quick)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N o mps")
    p.add_argument("--seed", type=int, default=defaults.DEFAULT_SEED, help="semilla de todo")
    p.add_argument("--prompt", default="Había una vez", help="comienzo de las muestras")
    p.add_argument("--no-progress", action="store_true", help="sin barra de progreso")
    return p


def say(message: str) -> None:
    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


def prepare_output(out: Path) -> Path:
    runs_dir = out / "runs"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"no se puede crear '{runs_dir}': {exc.strerror or exc}.") from exc
    return runs_dir


def train_all(
    plan: list[tuple[RunSpec, Any]], digest: str, runs_dir: Path, bar: tqdm, stop: StopRequest
) -> tuple[list[tuple[RunSpec, RunFiles, dict, bool]], int]:
    """Cada ejecución del plan, entrenada o reutilizada; para al primer Ctrl-C."""
    done: list[tuple[RunSpec, RunFiles, dict, bool]] = []
    trained = 0
    for spec, settings in plan:
        if stop.requested:
            break
        key = run_key(settings, digest)
        files = RunFiles(runs_dir, f"{spec.name}-{key}")
        record = load_record(files)
        if record is not None:
            bar.update(settings.max_steps)
            say(f"{spec.label}: reutilizada ({files.stem}), sin entrenar.")
            done.append((spec, files, record, True))
            continue
        say(f"{spec.label}: entrenando {settings.max_steps} pasos ({files.stem})…")
        counted = [0]

        def tick(step: int, counted: list[int] = counted) -> bool:
            bar.update(step - counted[0])
            counted[0] = step
            return stop.requested

        record = train_run(settings, files, key, tick)
        if record is None:
            say(f"{spec.label}: interrumpida; se repetirá la próxima vez.")
            break
        trained += 1
        unit = "token" if settings.tokenizer == "bpe" else "carácter"
        say(
            f"{spec.label}: entrenada ahora; pérdida de validación "
            f"{fmt_float(record['val_loss'], 3)} nats/{unit} "
            f"({fmt_float(record['bits_per_char'], 2)} bits/carácter) "
            f"en {fmt_float(record['seconds'], 1)} s."
        )
        done.append((spec, files, record, False))
    return done, trained


def run_row(
    spec: RunSpec, files: RunFiles, record: dict, reused: bool, samples: list[dict]
) -> dict[str, Any]:
    s = record["settings"]
    rel = f"{files.directory.name}/"
    return {
        "name": spec.name,
        "label": spec.label,
        "model": spec.model,
        "key": record["key"],
        "reused": reused,
        **{k: s[k] for k in ("block_size", "n_layer", "n_head", "n_embd", "batch_size")},
        **{k: record[k] for k in ("steps", "params", "train_loss", "val_loss", "bits_per_char")},
        # Registros de antes de --tokenizer: todos de caracteres.
        "tokenizer": record.get("tokenizer", "char"),
        "vocab_size": record.get("vocab_size"),
        "chars_per_token": record.get("chars_per_token", 1.0),
        "seconds": record["seconds"],
        "tokens_per_second": record["tokens_per_second"],
        "checkpoint": rel + record["checkpoint"],
        "metrics": rel + record["metrics"],
        "curve": rel + files.curve.name if files.curve.is_file() else None,
        "log": rel + files.log.name,
        "samples": samples,
    }


def draw_figures(rows: list[dict], by_name: dict[str, dict], out: Path) -> None:
    try:
        # Las curvas en nats por carácter: solo las de caracteres (las de BPE son por token y
        # tienen su propia figura, en bits por carácter).
        chars = [r for r in rows if r["tokenizer"] == "char"]
        curves = curves_for([(r["label"], out / r["metrics"]) for r in chars])
        draw_all_curves(curves, out / "curvas.png")
        # El primer consejo: el bigrama frente al GPT, solos en una figura.
        first_two = [c for c, r in zip(curves, chars, strict=True) if r["name"] in FIRST_TWO]
        draw_curves(first_two, out / "bigrama-gpt.png", "El bigrama frente al GPT")
        bigram = by_name["bigrama"]["val_loss"] if "bigrama" in by_name else None
        draw_sweeps(SWEEPS, by_name, bigram, out / "barrido.png")
        series = [(r["label"], *time_curve(r, out)) for r in tokenizer_rows(rows)]
        draw_bits_vs_time(series, out / "bits-tiempo.png")
    except ImportError as exc:
        raise PlotError("hace falta matplotlib (make install lo instala).") from exc


def check_length(text: str, path: str) -> None:
    """La validación (10 %) debe dar para una ventana del bloque más largo del barrido."""
    longest = max(v for sweep in SWEEPS if sweep.setting == "block_size" for v, _ in sweep.points)
    n_val = len(text) - int(len(text) * (1 - VAL_FRACTION))
    if n_val < longest + 2:
        raise DataError(
            f"el texto de '{path}' es demasiado corto para comparar: tiene {len(text)} "
            f"caracteres y el barrido usa bloques de hasta {longest}, así que necesita al menos "
            f"{(longest + 2) * 10}."
        )


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    text = read_text(args.data)  # mismos errores claros que el entrenador
    check_length(text, args.data)
    profile: Profile = adjusted(QUICK if args.quick else FULL, args.max_steps, args.sample_chars)
    if profile.max_steps <= 0 or profile.sample_chars < 0:
        raise ConfigError("--max-steps debe ser positivo y --sample-chars no negativo.")
    out = Path(args.out)
    runs_dir = prepare_output(out)
    digest = data_digest(args.data)
    specs = build_plan()
    plan = [
        (spec, settings_for(spec, profile, args.data, args.device, args.seed, str(runs_dir)))
        for spec in specs
    ]
    grid: list[SamplingParams] = sampling_grid(
        profile.temperatures, profile.top_ks, profile.sample_chars, args.seed
    )
    stop = StopRequest("se guarda lo terminado y se escribe el informe (otro Ctrl-C sale ya).")
    stop.install()
    say(
        f"Comparación {profile.name}: {len(plan)} ejecuciones de {profile.max_steps} pasos "
        f"con '{args.data}' → {out}/"
    )
    bar = tqdm(
        total=len(plan) * profile.max_steps,
        desc="comparando",
        unit="paso",
        bar_format=BAR_FORMAT,
        disable=args.no_progress or os.environ.get("LLM_NO_PROGRESS") == "1",
        mininterval=0.5,
        dynamic_ncols=True,
    )
    with bar:
        done, trained = train_all(plan, digest, runs_dir, bar, stop)
    rows = []
    for spec, files, record, reused in done:
        cache = files.path(".samples.json")
        # Tras Ctrl-C no se genera nada nuevo: solo se usan las muestras ya guardadas.
        samples = [] if stop.requested and not cache.is_file() else None
        if samples is None:
            samples = samples_for(files.checkpoint, args.prompt, grid, cache)
        rows.append(run_row(spec, files, record, reused, samples))
    by_name = {row["name"]: row for row in rows}
    draw_figures(rows, by_name, out)
    summary = {
        "format": 1,
        "profile": profile.name,
        "quick": args.quick,
        "max_steps": profile.max_steps,
        "batch_size": profile.batch_size,
        "n_embd": profile.n_embd,
        "gpt_lr": next(st.learning_rate for sp, st in plan if sp.model == "gpt"),
        "seed": args.seed,
        "prompt": args.prompt,
        "data": {"path": args.data, "sha256": digest, "chars": len(text)},
        "complete": len(rows) == len(plan),
        "counts": {
            "planned": len(plan),
            "trained": trained,
            "reused": len(rows) - trained,
            "missing": len(plan) - len(rows),
        },
        "runs": rows,
        "sweeps": sweep_table(SWEEPS, by_name),
        "tokenizers": {"sentence": SAMPLE_SENTENCE, "rows": measurements(rows, out)},
        "figures": {
            "bigram_vs_gpt": "bigrama-gpt.png",
            "curves": "curvas.png",
            "sweeps": "barrido.png",
            "bits_vs_time": "bits-tiempo.png",
        },
    }
    write_json(summary, out)
    _, page = write_pages(summary, out)
    say(f"Informe: {page} (ábrelo en el navegador); tabla en {out / 'informe.md'}.")
    if stop.requested:
        say(
            f"Interrumpida: {len(rows)} de {len(plan)} ejecuciones terminadas. Lanza la misma "
            "orden para seguir: lo terminado se reutiliza."
        )
        return EXIT_INTERRUPTED
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

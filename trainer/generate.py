"""``python -m trainer.generate``: genera texto con un checkpoint."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from shared.checkpoints.files import Checkpoint, load_checkpoint_file, load_latest_usable
from shared.common.argparse_es import SpanishArgumentParser
from shared.common.device import resolve_device
from shared.common.errors import CheckpointError, ConfigError
from shared.common.spanish_numbers import fmt_float, fmt_int
from shared.config import MODEL_TYPES
from shared.engine.batch import stream_generate
from shared.sampling import SamplingParams
from trainer.errors import run_cli, warn_skipped_checkpoint


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m trainer.generate",
        description="Genera texto carácter a carácter con un checkpoint entrenado. El texto sale "
        "por la salida estándar; qué checkpoint y qué semilla se usaron, por la de errores.",
        epilog="Ejemplo: python -m trainer.generate --ckpt checkpoints/gpt --prompt Hola "
        "--temperature 0.8 --top-k 50 --seed 7",
    )
    p.add_argument(
        "--ckpt",
        metavar="RUTA",
        required=True,
        help="checkpoint (.pt), o un directorio para usar su último checkpoint",
    )
    p.add_argument(
        "--prompt", metavar="TEXTO", default="", help="texto inicial (vacío = un salto de línea)"
    )
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=300,
        help="tokens a generar (con el tokenizador char, caracteres)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="0 = siempre el más probable; <1 conservador; >1 creativo",
    )
    p.add_argument("--top-k", type=int, default=0, help="solo los k más probables (0 = todos)")
    p.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        help="solo el núcleo con probabilidad acumulada p (1 = todos)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="semilla: la misma da el mismo texto (por defecto, una al azar, que se muestra "
        "para poder repetirla)",
    )
    p.add_argument(
        "--num-samples",
        type=int,
        default=1,
        help="cuántas muestras; la muestra i usa la semilla + i",
    )
    p.add_argument(
        "--device", metavar="DISPOSITIVO", default="auto", help="auto, cpu, cuda, cuda:N o mps"
    )
    p.add_argument("--no-cache", action="store_true", help="desactivar la caché KV (más lento)")
    return p


def find_checkpoint(ckpt: str) -> tuple[Checkpoint, Path]:
    """Un fichero, o el último checkpoint utilizable de un directorio (avisando de cada uno que
    se salta). Si checkpoints/<modelo> no tiene ninguno pero checkpoints/ sí (la disposición
    antigua, todo junto), lo dice."""
    folder = Path(ckpt)
    if folder.name in MODEL_TYPES and not folder.is_file() and not list(folder.glob("*.pt")):
        if list(folder.parent.glob("*.pt")):
            raise CheckpointError(
                f"no hay ningún checkpoint en '{folder}', pero sí en '{folder.parent}' (de antes "
                f"de que cada modelo tuviera su carpeta): muévelos a '{folder}' o usa "
                f"CHECKPOINT_DIR={folder.parent}."
            )
    if folder.is_dir():
        return load_latest_usable(folder, on_skip=warn_skipped_checkpoint)
    return load_checkpoint_file(folder), folder


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.num_samples < 1:
        raise ConfigError("--num-samples debe ser al menos 1.")
    # Siempre con semilla: si el texto sale bien, se puede repetir con --seed.
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    samples = [
        SamplingParams(
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=seed + i,
            use_cache=not args.no_cache,
        )
        for i in range(args.num_samples)
    ]
    # Los límites de muestreo los comprueba SamplingParams al crearse (arriba; la CLI no los
    # repite), antes de cargar nada; el prompt, al crear el primer flujo (aquí): antes de
    # escribir nada, así la salida nunca queda a medias.
    device = resolve_device(args.device)
    ckpt, path = find_checkpoint(args.ckpt)
    model = ckpt.build_model(device)
    model.eval()
    tokenizer = ckpt.tokenizer
    first = stream_generate(model, tokenizer, args.prompt, samples[0], device)
    val = "" if ckpt.val_loss is None else f", pérdida de validación {fmt_float(ckpt.val_loss)}"
    # En Windows no hay make (docs/windows.md): solo la opción.
    with_make = "" if sys.platform == "win32" else f" (con make: make generate GEN_SEED={seed})"
    print(
        f"checkpoint: {path} ({ckpt.model_type}, paso {fmt_int(ckpt.step)}{val}) · "
        f"semilla {seed}\n"
        f"para repetirlo: --seed {seed}{with_make}",
        file=sys.stderr,
        flush=True,
    )
    for i, params in enumerate(samples):
        chars = first if i == 0 else stream_generate(model, tokenizer, args.prompt, params, device)
        if args.num_samples > 1:
            print(f"--- muestra {i + 1} ---")
        sys.stdout.write(args.prompt)
        for ch in chars:
            sys.stdout.write(ch.text)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

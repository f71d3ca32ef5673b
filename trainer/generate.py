"""``python -m trainer.generate``: genera texto con un checkpoint."""

from __future__ import annotations

import argparse
import sys

from shared.checkpoint import load_model
from shared.device import resolve_device
from shared.engine import stream_generate
from shared.sampling import SamplingParams
from trainer.errors import run_cli, warn_skipped_checkpoint


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer.generate",
        description="Genera texto carácter a carácter con un checkpoint entrenado.",
        epilog='Ejemplo: python -m trainer.generate --ckpt checkpoints/gpt.pt --prompt "Hola" '
        "--temperature 0.8 --top-k 50",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--ckpt",
        required=True,
        help="checkpoint (.pt), o un directorio para usar su último checkpoint",
    )
    p.add_argument("--prompt", default="", help="texto inicial (vacío = un salto de línea)")
    p.add_argument("--max-new-tokens", type=int, default=300, help="caracteres a generar")
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
        help="semilla: la misma da el mismo texto (por defecto, aleatoria)",
    )
    p.add_argument(
        "--num-samples",
        type=int,
        default=1,
        help="cuántas muestras; la muestra i usa la semilla + i",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N o mps")
    p.add_argument("--no-cache", action="store_true", help="desactivar la caché KV (más lento)")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.num_samples < 1:
        from shared.errors import ConfigError

        raise ConfigError("--num-samples debe ser al menos 1.")
    device = resolve_device(args.device)
    model, tokenizer, _ = load_model(args.ckpt, device, on_skip=warn_skipped_checkpoint)
    for i in range(args.num_samples):
        params = SamplingParams(
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=None if args.seed is None else args.seed + i,
            use_cache=not args.no_cache,
        )
        params.validate()
        if args.num_samples > 1:
            print(f"--- muestra {i + 1} ---")
        # Se valida el prompt antes de escribir nada, para no dejar salida a medias.
        tokenizer.encode(args.prompt)
        sys.stdout.write(args.prompt)
        for ch in stream_generate(model, tokenizer, args.prompt, params, device):
            sys.stdout.write(ch.text)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

"""``python -m trainer.evaluate``: pérdida de un checkpoint sobre un texto."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from shared.checkpoints.files import load_model
from shared.checkpoints.models import tokenizer_kind
from shared.common.argparse_es import SpanishArgumentParser
from shared.common.device import resolve_device
from shared.common.errors import DataError
from shared.common.spanish_numbers import fmt_float, fmt_int
from trainer.data import read_text, split_text
from trainer.errors import run_cli, warn_skipped_checkpoint
from trainer.loss_measurement import evaluate_ids, predicted_chars


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m trainer.evaluate",
        description="Mide la pérdida (nats y bits por carácter) de un checkpoint sobre un texto.",
    )
    p.add_argument(
        "--ckpt",
        metavar="RUTA",
        required=True,
        help="checkpoint (.pt), o un directorio para usar su último checkpoint",
    )
    p.add_argument(
        "--data",
        metavar="FICHERO",
        default=None,
        help="texto UTF-8 (por defecto, el fichero con el que se entrenó)",
    )
    p.add_argument(
        "--split",
        choices=("val", "train", "all"),
        default="val",
        help="qué parte del texto: val (último 10 %%), train (primer 90 %%) o all",
    )
    p.add_argument(
        "--device", metavar="DISPOSITIVO", default="auto", help="auto, cpu, cuda, cuda:N o mps"
    )
    p.add_argument("--json", action="store_true", help="imprimir un objeto JSON")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, tokenizer, ckpt = load_model(args.ckpt, device, on_skip=warn_skipped_checkpoint)
    data_path = args.data or ckpt.data_path
    if not data_path:
        raise DataError("el checkpoint no recuerda su fichero de datos: indica --data.")
    text = read_text(data_path)
    if tokenizer.unknown_chars(text):  # en cualquier parte del texto, no solo en el split
        tokenizer.encode(text)  # su TokenizerError dice qué caracteres faltan
    if args.split != "all":
        # Se divide el texto, como al entrenar (con caracteres, igual que dividir los ids).
        train, val = split_text(text)
        text = val if args.split == "val" else train
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    if len(ids) < 2:
        raise DataError(f"'{data_path}' es demasiado corto para evaluar (split {args.split}).")
    result = evaluate_ids(model, ids, device, chars=predicted_chars(tokenizer, text, ids))
    if args.json:
        print(
            json.dumps(
                {
                    "loss": result.loss,
                    "bits_per_char": result.bits_per_char,
                    "perplexity": result.perplexity,
                    "chars": result.chars,
                    "tokens": result.tokens,
                    "chars_per_token": result.chars_per_token,
                    "tokenizer": tokenizer_kind(tokenizer),
                    "split": args.split,
                    "data": str(data_path),
                    "checkpoint": str(args.ckpt),
                    "model_type": ckpt.model_type,
                    "step": ckpt.step,
                },
                ensure_ascii=False,
            )
        )
    else:
        if tokenizer_kind(tokenizer) == "char":
            print(
                f"pérdida: {fmt_float(result.loss, 4)} nats/carácter "
                f"({fmt_float(result.bits_per_char, 4)} bits/carácter)"
            )
        else:
            print(
                f"pérdida: {fmt_float(result.loss, 4)} nats/token; "
                f"{fmt_float(result.bits_per_char, 4)} bits/carácter "
                f"({fmt_float(result.chars_per_token)} caracteres por token)"
            )
        print(f"perplejidad: {fmt_float(result.perplexity)}")
        print(f"caracteres evaluados: {fmt_int(result.chars)} (split {args.split} de {data_path})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.bpe``: el BPE de la lección frente al de Hugging Face ``tokenizers``.

Entrena los dos con el mismo texto y el mismo tamaño de vocabulario e imprime, lado a lado, el
tiempo de entrenamiento y la compresión (bytes UTF-8 por token) en el texto reservado:

- «corpus»: el primer 90 % del fichero; la compresión se mide en el último 10 %;
- «2 MB, repetido»: el 90 % repetido hasta ~2 MB. Mismos trozos distintos que el corpus (con
  frecuencias multiplicadas): mide lo que cuesta leer y partir 2 MB;
- «2 MB, variado»: cada copia con las consonantes rotadas (b→c, c→d…), así que casi todas sus
  palabras son nuevas: el caso caro para el BPE de la lección, que trabaja por palabra distinta.

``tokenizers`` es una dependencia de desarrollo (``pip install -e '.[dev]'``): el proyecto no la
usa, solo esta medida y tests/test_bpe_tokenizer.py. Las cifras están en docs/tokenizador.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.machine import cpu_model, load_average
from shared.bpe_tokenizer import SPLIT, BPETokenizer
from shared.common.argparse_es import SpanishArgumentParser
from trainer import settings as defaults
from trainer.precision import cpu_flags

CONSONANTS = "bcdfgjlmnprstvz"
SAMPLE = "El pescador remendaba la red mientras cantaba: ¿volverá mañana?"


def hugging_face_bpe(text: str, vocab_size: int) -> Any:
    """El BPE a nivel de byte de ``tokenizers``, entrenado con el mismo texto y el mismo tamaño
    (lo usan esta medida y tests/test_bpe_tokenizer.py)."""
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    except ImportError:
        sys.exit("falta tokenizers (dependencia de desarrollo): pip install -e '.[dev]'")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([text], trainer)
    return tok


def hugging_face_trainer() -> Callable[[str, int], Callable[[str], int]]:
    """«Cuántos tokens da un texto» con el BPE de ``tokenizers`` entrenado con ese texto."""

    def train(text: str, vocab_size: int) -> Callable[[str], int]:
        tok = hugging_face_bpe(text, vocab_size)
        return lambda t: len(tok.encode(t).ids)

    return train


def varied(text: str, copies: int) -> str:
    """``copies`` copias del texto, cada una con las consonantes rotadas un paso más."""
    return "".join(
        text.translate(str.maketrans(CONSONANTS, CONSONANTS[k:] + CONSONANTS[:k]))
        for k in range(copies)
    )


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = SpanishArgumentParser(
        prog="python -m bench.bpe",
        description="Compara el BPE de la lección con el de Hugging Face tokenizers: tiempo de "
        "entrenamiento y bytes por token en el texto reservado, con el mismo vocabulario.",
    )
    p.add_argument("--data", metavar="FICHERO", default=defaults.DEFAULT_DATA, help="texto UTF-8")
    p.add_argument("--vocab-size", type=int, default=1024, help="tamaño del vocabulario")
    p.add_argument("--mb", type=float, default=2.0, help="megabytes de las filas grandes")
    args: argparse.Namespace = p.parse_args(argv)

    corpus = open(args.data, encoding="utf-8").read()
    cut = int(len(corpus) * 0.9)
    train, held = corpus[:cut], corpus[cut:]
    held_bytes = len(held.encode("utf-8"))
    copies = max(1, round(args.mb * 1e6 / len(train.encode("utf-8"))))
    texts = {
        "corpus": train,
        "2 MB, repetido": train * copies,
        "2 MB, variado": varied(train, copies),
    }
    hf_train = hugging_face_trainer()
    flags = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16", "avx512f"}) or ["ninguno"]
    print(f"CPU: {cpu_model()}; núcleos: {os.cpu_count()}; flags: {' '.join(flags)}")
    print(f"carga media al empezar: {load_average()}; vocabulario: {args.vocab_size} tokens")
    print(f"texto reservado: {held_bytes} bytes (último 10 % de {args.data})\n")
    header = (
        f"{'texto':<16} {'MB':>5} {'trozos':>7}  {'lección s':>9} {'HF s':>6}  "
        f"{'lección B/tok':>13} {'HF B/tok':>8}"
    )
    print(header)
    print("-" * len(header))
    ours = None
    for name, text in texts.items():
        distinct = len(set(SPLIT.findall(text)))
        tok, t_ours = timed(lambda text=text: BPETokenizer.train(text, args.vocab_size))
        count, t_hf = timed(lambda text=text: hf_train(text, args.vocab_size))
        ours = ours or tok
        mb = len(text.encode("utf-8")) / 1e6
        cells = f"{held_bytes / len(tok.encode(held)):>13.3f} {held_bytes / count(held):>8.3f}"
        print(f"{name:<16} {mb:>5.2f} {distinct:>7}  {t_ours:>9.2f} {t_hf:>6.2f}  {cells}")
    print(f"\ncarga media al terminar: {load_average()}")
    ids = ours.encode(SAMPLE)
    print(f"\n«{SAMPLE}»: {len(SAMPLE)} caracteres, {len(ids)} tokens (entrenado con «corpus»):")
    print(" | ".join(ours.token_text(i) for i in ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Caracteres frente a BPE: las cifras de «Más allá de los caracteres» (docs/aprender.md).

Todo sale de las ejecuciones de la comparación (sus registros, métricas y checkpoints):

- bits por carácter frente al tiempo de entrenamiento (la figura): la pérdida por token de cada
  evaluación dividida entre los caracteres por token de su tokenizador, para que un modelo que
  predice palabras enteras y uno que predice letras se midan con la misma vara;
- cuánto texto cabe en el mismo ``block_size`` (caracteres por token × block_size);
- qué parte de los parámetros es el embedding a medida que crece el vocabulario;
- los tokens de una frase de ejemplo con cada tokenizador.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from shared.bpe_tokenizer import VISIBLE
from shared.checkpoints.files import load_checkpoint
from trainer.plot import read_metrics

SAMPLE_SENTENCE = "El niño soñó que volaba sobre el año nuevo."


def tokenizer_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """El GPT de caracteres de la semilla y las filas BPE: una fila de cifras por tokenizador."""
    return [r for r in runs if r["name"] == "gpt" or r.get("tokenizer") == "bpe"]


def time_curve(row: dict[str, Any], out: Path) -> tuple[list[float], list[float]]:
    """(segundos de entrenamiento, bits por carácter de validación) en cada evaluación.

    El registro guarda los tokens por segundo medios hasta ese paso, así que los segundos
    son pasos × tokens por paso / tokens por segundo (un proceso, sin reanudar): solo los
    pasos, sin las evaluaciones ni los guardados. El último punto es la evaluación exacta del
    final, en el mismo instante que la última estimada."""
    tokens_per_step = row["batch_size"] * row["block_size"]
    per_token = math.log(2) * row.get("chars_per_token", 1.0)
    xs, ys = [], []
    for rec in read_metrics(out / row["metrics"]):
        if "val_loss" in rec and rec.get("tokens_per_sec"):
            xs.append(rec["step"] * tokens_per_step / rec["tokens_per_sec"])
            ys.append(rec["val_loss"] / per_token)
    if xs:
        xs.append(xs[-1])
        ys.append(row["bits_per_char"])
    return xs, ys


def measurements(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Por tokenizador: vocabulario, texto por bloque, parte del embedding, bits por carácter
    y los tokens de ``SAMPLE_SENTENCE``."""
    table = []
    for row in tokenizer_rows(rows):
        ckpt = load_checkpoint(out / row["checkpoint"])
        vocab, n_embd = ckpt.config.vocab_size, ckpt.config.n_embd  # type: ignore[union-attr]
        cpt = row.get("chars_per_token", 1.0)
        times, _ = time_curve(row, out)
        tokenizer = ckpt.tokenizer
        shown = (tokenizer.token_text(i) for i in tokenizer.encode(SAMPLE_SENTENCE))
        labels = [VISIBLE.get(t, t) for t in shown]  # el espacio se ve «·» también con char
        table.append(
            {
                "run": row["name"],
                "label": row["label"],
                "tokenizer": row.get("tokenizer", "char"),
                "vocab_size": vocab,
                "chars_per_token": cpt,
                "chars_per_block": cpt * row["block_size"],
                # El embedding de tokens es también la capa de salida (compartida): una vez.
                "embedding_share": vocab * n_embd / row["params"],
                "params": row["params"],
                "bits_per_char": row["bits_per_char"],
                "train_seconds": times[-1] if times else row["seconds"],
                "sentence_tokens": labels,
            }
        )
    return table

"""``python -m trainer.attention``: el mapa de atención de un checkpoint GPT, como figura PNG.

Una rejilla de capas × cabezas. En cada cuadro, la fila i es el carácter que pregunta (la
consulta) y la columna j el carácter al que mira (la clave); el color es el peso del softmax.
El futuro (por encima de la diagonal) está tapado: la máscara causal lo deja a 0.
Los pesos salen de ``shared/engine/attention_map.py``, que usa la atención explícita del modelo.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.checkpoints.files import load_model
from shared.checkpoints.models import tokenizer_kind
from shared.common.argparse_es import SpanishArgumentParser
from shared.common.device import resolve_device
from shared.common.errors import LLMError
from shared.engine.attention_map import AttentionMap, attention_map
from trainer.errors import run_cli, warn_skipped_checkpoint
from trainer.plot import new_figure, save_figure

CELL_INCHES = 3.4  # lado de cada cuadro de la rejilla
MAX_TICK_CHARS = 48  # con más caracteres, las etiquetas de los ejes ya no se leen
# Letra que se lee proyectada: los caracteres de los ejes, los títulos y la leyenda de color.
TICK_FONT = 11
LABEL_FONT = 13
TITLE_FONT = 16
# La misma escala y la misma frase que el playground (lab.js): blanco = 0, azul intenso = 1.
CMAP = "Blues"
SCALE_LABEL = "peso de atención: más azul = más peso"


class AttentionFigureError(LLMError):
    """No se puede escribir la figura."""


def char_label(c: str) -> str:
    # Los espacios y saltos de línea no se verían en un eje: se muestran con un símbolo.
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(c, c)


def draw_attention(amap: AttentionMap, out: Path, title: str) -> Path:
    import numpy as np

    n_layer, n_head = amap.n_layer, amap.n_head
    size = (CELL_INCHES * n_head + 1.6, CELL_INCHES * n_layer + 1.2)
    fig = new_figure(size)
    axes = fig.subplots(n_layer, n_head, squeeze=False)
    labels = [char_label(c) for c in amap.chars]
    t = len(labels)
    future = np.triu(np.ones((t, t), dtype=bool), k=1)
    image = None
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer][head]
            weights = np.ma.masked_array(np.array(amap.layers[layer][head]), mask=future)
            image = ax.imshow(weights, cmap=CMAP, vmin=0.0, vmax=1.0)
            ax.set_facecolor("0.8")  # el futuro tapado se ve gris (el 0 de «Blues» es blanco)
            ax.set_title(f"capa {layer + 1}, cabeza {head + 1}", fontsize=LABEL_FONT)
            if t <= MAX_TICK_CHARS:
                ax.set_xticks(range(t), labels, fontsize=TICK_FONT)
                ax.set_yticks(range(t), labels, fontsize=TICK_FONT)
            if layer == n_layer - 1:
                ax.set_xlabel("clave (carácter al que mira)", fontsize=LABEL_FONT)
            if head == 0:
                ax.set_ylabel("consulta (carácter que pregunta)", fontsize=LABEL_FONT)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.6)
        bar.set_label(SCALE_LABEL, fontsize=LABEL_FONT)
        bar.ax.tick_params(labelsize=TICK_FONT)
    fig.suptitle(title, fontsize=TITLE_FONT)
    return save_figure(fig, out)


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m trainer.attention",
        description="Dibuja los pesos de atención de un checkpoint GPT para un texto: una "
        "rejilla capas × cabezas; filas = carácter que pregunta, columnas = carácter al que "
        "mira, el futuro tapado.",
        epilog='Ejemplo: python -m trainer.attention --ckpt checkpoints/gpt.pt --prompt "la casa" '
        "--out atencion.png",
    )
    p.add_argument(
        "--ckpt",
        required=True,
        metavar="CHECKPOINT",
        help="checkpoint GPT (.pt), o un directorio (su último checkpoint)",
    )
    p.add_argument(
        "--prompt", required=True, metavar="TEXTO", help="el texto cuya atención se dibuja"
    )
    p.add_argument("--out", default="atencion.png", metavar="FICHERO", help="fichero PNG de salida")
    p.add_argument("--title", default=None, metavar="TÍTULO", help="título de la figura")
    p.add_argument(
        "--device", default="cpu", metavar="DISPOSITIVO", help="auto, cpu, cuda, cuda:N o mps"
    )
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, tokenizer, ckpt = load_model(args.ckpt, device, on_skip=warn_skipped_checkpoint)
    amap = attention_map(model, tokenizer, args.prompt)
    name = ckpt.run_name or Path(args.ckpt).stem
    title = args.title or f"Atención de '{name}' (paso {ckpt.step})"
    try:
        out = draw_attention(amap, Path(args.out), title)
    except OSError as exc:
        raise AttentionFigureError(
            f"no se puede escribir '{args.out}': {exc.strerror or exc}."
        ) from exc
    print(
        f"Mapa de atención ({amap.n_layer} capas × {amap.n_head} cabezas, "
        f"{len(amap.chars)} {'caracteres' if tokenizer_kind(tokenizer) == 'char' else 'tokens'}"
        f"): {out}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

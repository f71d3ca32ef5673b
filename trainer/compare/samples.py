"""Textos de cada modelo con la misma semilla a varias temperaturas y top-k.

Usa el muestreador del proyecto (``shared/generation.py``), el mismo que la CLI y el servidor:
con la misma semilla y ajustes, ``python -m trainer.generate`` da el mismo texto.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.checkpoints.files import load_model
from shared.engine.batch import generate
from shared.sampling import SamplingParams


def sampling_grid(
    temperatures: tuple[float, ...], top_ks: tuple[int, ...], chars: int, seed: int
) -> list[SamplingParams]:
    return [
        SamplingParams(max_new_tokens=chars, temperature=t, top_k=k, seed=seed)
        for t in temperatures
        for k in top_ks
    ]


def _describe(params: SamplingParams) -> dict[str, Any]:
    return {
        "temperature": params.temperature,
        "top_k": params.top_k,
        "seed": params.seed,
        "max_new_tokens": params.max_new_tokens,
    }


def samples_for(
    checkpoint: Path, prompt: str, grid: list[SamplingParams], cache: Path
) -> list[dict[str, Any]]:
    """Una muestra por ajuste; se guardan junto al checkpoint y se reutilizan si no cambian."""
    wanted = {"prompt": prompt, "grid": [_describe(p) for p in grid]}
    if cache.is_file():
        try:
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored.get("request") == wanted:
                return stored["samples"]
        except (OSError, json.JSONDecodeError, AttributeError, KeyError):
            pass
    model, tokenizer, _ = load_model(checkpoint)
    # Caracteres que el modelo no conoce no pueden ir en el prompt: se quitan.
    unknown = set(tokenizer.unknown_chars(prompt))
    usable = "".join(ch for ch in prompt if ch not in unknown)
    samples = []
    for params in grid:
        result = generate(model, tokenizer, usable, params)
        samples.append({**_describe(params), "prompt": usable, "text": result.text})
    cache.write_text(
        json.dumps({"request": wanted, "samples": samples}, ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    return samples

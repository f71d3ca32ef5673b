"""Filas de generación (con y sin caché KV) y del tiempo de carga de un checkpoint."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from shared.checkpoint import load_model
from shared.generation import generate
from shared.sampling import SamplingParams


def measure_generation(path: Path, new_tokens: int, device: torch.device) -> dict[str, Any]:
    """Tokens/s a lote 1 generando ``new_tokens`` caracteres, con y sin caché KV.

    Los dos caminos deben dar exactamente el mismo texto: se comprueba y se anota.
    """
    model, tokenizer, _ = load_model(path, device)
    row: dict[str, Any] = {"new_tokens": new_tokens, "block_size": model.block_size}
    ids = {}
    for use_cache in (True, False):
        params = SamplingParams(
            max_new_tokens=new_tokens, temperature=0.8, top_k=50, seed=1, use_cache=use_cache
        )
        generate(model, tokenizer, "", SamplingParams(max_new_tokens=8, seed=1))  # calentar
        result = generate(model, tokenizer, "", params, device)
        key = "cached" if use_cache else "uncached"
        row[f"{key}_tokens_per_s"] = round(result.tokens_per_second, 1)
        ids[key] = result.token_ids
    row["speedup"] = round(row["cached_tokens_per_s"] / row["uncached_tokens_per_s"], 2)
    row["identical"] = ids["cached"] == ids["uncached"]
    return row


def measure_checkpoint_load(path: Path, device: torch.device, repeats: int = 5) -> dict[str, Any]:
    """Tiempo de ``load_model`` (leer, validar, construir el modelo y copiar los pesos)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_model(path, device)
        times.append(time.perf_counter() - t0)
    return {
        "megabytes": round(path.stat().st_size / 1e6, 2),
        "load_ms": round(1000 * statistics.median(times), 1),
    }

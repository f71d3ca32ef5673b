"""Filas de generación (con y sin caché KV) y del tiempo de carga de un checkpoint."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from shared.checkpoints.files import load_model
from shared.engine.batch import generate
from shared.sampling import SamplingParams


def measure_generation(
    path: Path, new_tokens: int, device: torch.device, repeats: int = 3
) -> dict[str, Any]:
    """Tokens/s a lote 1 generando ``new_tokens`` caracteres, con y sin caché KV.

    Los dos caminos se alternan ``repeats`` veces (con y sin, con y sin…), para que si otro
    proceso roba CPU durante un rato les afecte a los dos. Se anotan la mejor vuelta de cada
    camino (la menos molestada, como hace ``timeit``) y la mediana de los cocientes por vuelta.
    Los dos caminos deben dar exactamente el mismo texto: se comprueba y se anota.
    """
    model, tokenizer, _ = load_model(path, device)
    generate(model, tokenizer, "", SamplingParams(max_new_tokens=8, seed=1))  # calentar
    seconds: dict[str, list[float]] = {"cached": [], "uncached": []}
    ids: dict[str, list[int]] = {}
    for _ in range(repeats):
        for key, use_cache in (("cached", True), ("uncached", False)):
            params = SamplingParams(
                max_new_tokens=new_tokens, temperature=0.8, top_k=50, seed=1, use_cache=use_cache
            )
            result = generate(model, tokenizer, "", params, device)
            seconds[key].append(result.seconds)
            ids[key] = result.token_ids
    row: dict[str, Any] = {
        "new_tokens": new_tokens,
        "block_size": model.block_size,
        "repeats": repeats,
    }
    for key, times in seconds.items():
        row[f"{key}_tokens_per_s"] = round(new_tokens / min(times), 1)
        row[f"{key}_tokens_per_s_median"] = round(new_tokens / statistics.median(times), 1)
    row["speedup"] = round(row["cached_tokens_per_s"] / row["uncached_tokens_per_s"], 2)
    ratios = [u / c for c, u in zip(seconds["cached"], seconds["uncached"], strict=True)]
    row["speedup_median"] = round(statistics.median(ratios), 2)
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

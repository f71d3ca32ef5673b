"""Filas de entrenamiento: tokens/s, FLOP/s frente al pico y pérdida de validación."""

from __future__ import annotations

import statistics
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from bench.reference import build_reference, reference_step
from shared.checkpoints.files import Checkpoint, save_checkpoint
from shared.checkpoints.shapes import count_parameters
from shared.config import GPTConfig
from trainer.data import TextDataset, get_batch
from trainer.loop import Trainer
from trainer.loss_measurement import evaluate_ids
from trainer.run_files import rng_state
from trainer.settings import DEFAULT_SEED, TrainSettings

# Los dos tamaños del issue: la orden de la semilla (make train: los valores por defecto de
# TrainSettings, sin copiarlos) y un GPT de 6 capas.
_SEED_SIZE = {f.name: f.default for f in fields(TrainSettings)}
SIZES: dict[str, dict[str, int]] = {
    "semilla": {
        k: _SEED_SIZE[k] for k in ("n_embd", "n_head", "n_layer", "block_size", "batch_size")
    },
    "6x384": dict(n_embd=384, n_head=6, n_layer=6, block_size=256, batch_size=64),
}


def flops_per_token(config: GPTConfig) -> float:
    """FLOPs de entrenamiento por token (hacia delante + atrás), la estimación de PaLM.

    6 por parámetro (sin el embedding de posición, que solo se suma) más la atención:
    12 · capas · dimensión · bloque.
    """
    n = count_parameters(config) - config.block_size * config.n_embd
    return 6 * n + 12 * config.n_layer * config.n_embd * config.block_size


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_stats(times: list[float], tokens_per_step: int) -> dict[str, float]:
    # Los primeros pasos preparan núcleos (y compilan con --compile): no cuentan para la media.
    skip = min(3, len(times) // 3)
    steady = times[skip:]
    median = statistics.median(steady)
    return {
        "first_step_s": round(times[0], 3),
        "step_ms": round(1000 * median, 2),
        "tokens_per_s": round(tokens_per_step / median, 1),
        "measured_steps": len(steady),
    }


def _batch_ms(trainer: Trainer, repeats: int = 50) -> float:
    """Lo que cuesta sacar un lote (índices aleatorios sobre el corpus en un tensor)."""
    s = trainer.s
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(repeats):
        get_batch(trainer.data.train, s.batch_size, s.block_size, gen, trainer.device)
    _sync(trainer.device)
    return 1000 * (time.perf_counter() - t0) / repeats


def measure_training(
    size: str,
    dtype: str,
    steps: int,
    data: str,
    workdir: Path,
    device: str,
    compile_model: bool = False,
) -> dict[str, Any]:
    """Entrena ``steps`` pasos con el paso real del entrenador y mide cada uno."""
    name = f"{size}-{dtype}{'-compile' if compile_model else ''}"
    settings = TrainSettings(
        model="gpt",
        data=data,
        max_steps=steps,
        eval_interval=steps,
        eval_iters=1,
        dtype=dtype,
        compile=compile_model,
        device=device,
        checkpoint_dir=str(workdir),
        run_name=name,
        **SIZES[size],
    )
    trainer = Trainer(settings, log=lambda message: None, progress=False)
    times = [seconds for _, seconds in trainer.timed_steps(steps)]
    batch_ms = _batch_ms(trainer)
    # La pérdida se evalúa siempre en float32: así se compara lo que aprendió cada precisión.
    val = evaluate_ids(trainer.model, trainer.data.val, trainer.device)
    path = save_checkpoint(
        Checkpoint(
            "gpt",
            trainer.model.config,
            trainer.data.tokenizer,
            trainer.model.state_dict(),
            step=steps,
            val_loss=val.loss,
            run_name=name,
            # Como los del entrenador (el mismo estado completo que valida la carga): así pesa y
            # carga lo mismo.
            train_state={
                "settings": settings.to_dict(),
                "optimizer": trainer.optimizer.state_dict(),
                "rng": rng_state(trainer.batch_gen),
                "world_size": 1,
            },
        ),
        workdir / f"{name}.pt",
    )
    tokens = settings.batch_size * settings.block_size * settings.grad_accum
    row: dict[str, Any] = {
        "size": size,
        "dtype": trainer.dtype,
        "compile": compile_model,
        "steps": steps,
        "tokens_per_step": tokens,
        **_step_stats(times, tokens),
        "val_loss": round(val.loss, 4),
        "batch_ms": round(batch_ms, 3),  # sacar un lote: debe ser despreciable frente al paso
        "flops_per_token": flops_per_token(trainer.model.config),
        "checkpoint": str(path),
    }
    row["flops_per_s"] = row["flops_per_token"] * row["tokens_per_s"]
    return row


def measure_reference(size: str, steps: int, data: str, device: str) -> dict[str, Any]:
    """La implementación directa (bench/reference.py) con los mismos lotes y tamaños."""
    from shared.common.device import resolve_device

    dev = resolve_device(device)
    s = SIZES[size]
    dataset = TextDataset.from_file(data, s["block_size"])
    config = GPTConfig(
        vocab_size=dataset.tokenizer.vocab_size,
        block_size=s["block_size"],
        n_embd=s["n_embd"],
        n_head=s["n_head"],
        n_layer=s["n_layer"],
    )
    torch.manual_seed(DEFAULT_SEED)
    model, optimizer = build_reference(config)
    model.to(dev).train()
    gen = torch.Generator().manual_seed(DEFAULT_SEED)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        x, y = get_batch(dataset.train, s["batch_size"], s["block_size"], gen, dev)
        reference_step(model, optimizer, x, y)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    tokens = s["batch_size"] * s["block_size"]
    return {
        "size": size,
        "dtype": "float32",
        "compile": False,
        "steps": steps,
        "tokens_per_step": tokens,
        **_step_stats(times, tokens),
    }

"""Medir la pérdida de un modelo: estimación rápida durante el entrenamiento y pasada completa."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from shared.checkpoints.models import LanguageModel, Tokenizer
from trainer.data import get_batch

EVAL_SEED_OFFSET = 10_007  # los lotes de evaluación usan su propio generador


@torch.no_grad()
def estimate_loss(
    model: LanguageModel,
    splits: dict[str, torch.Tensor],
    batch_size: int,
    block_size: int,
    eval_iters: int,
    seed: int,
    device: torch.device,
) -> dict[str, float]:
    """Media de la pérdida en ``eval_iters`` lotes de cada split.

    Siempre los mismos lotes (generador con semilla fija), así las cifras son comparables entre
    pasos y el muestreo del entrenamiento no se altera.
    """
    was_training = model.training
    model.eval()
    out = {}
    for name, data in splits.items():
        gen = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
        losses = []
        for _ in range(eval_iters):
            x, y = get_batch(data, batch_size, block_size, gen, device)
            _, loss = model(x, y)
            losses.append(float(loss))
        out[name] = sum(losses) / len(losses)
    model.train(was_training)
    return out


@dataclass(frozen=True)
class EvalResult:
    loss: float  # nats por token (con el tokenizador de caracteres, por carácter)
    tokens: int  # cuántos tokens se predijeron
    chars: int  # cuántos caracteres de texto son esos tokens (con caracteres, los mismos)

    @property
    def bits_per_char(self) -> float:
        """La pérdida por carácter de texto, no por token: comparable entre tokenizadores.

        Un token BPE lleva varios caracteres: la pérdida total (nats por token × tokens)
        repartida entre los caracteres que cubren."""
        if not self.chars:
            return float("nan")
        return self.loss * self.tokens / self.chars / math.log(2)

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens if self.tokens else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


def predicted_chars(tokenizer: Tokenizer, text: str, ids: Sequence[int] | torch.Tensor) -> int:
    """Los caracteres de ``text`` que predicen sus tokens ``ids``: todos menos los del primero,
    que no se predice (con caracteres, ``len(ids) - 1``)."""
    if len(ids) < 2:
        return 0
    return len(text) - len(tokenizer.decode([int(ids[0])]))


@torch.no_grad()
def evaluate_ids(
    model: LanguageModel,
    ids: torch.Tensor,
    device: torch.device,
    batch_size: int = 32,
    chars: int | None = None,
) -> EvalResult:
    """Pérdida exacta sobre todo ``ids``: ventanas consecutivas de ``block_size`` sin solape.

    Cada token (salvo el primero) se predice exactamente una vez. ``chars``: los caracteres
    que cubren esos tokens (``predicted_chars``); por defecto, uno por token.
    """
    model.eval()
    block = model.block_size
    n_targets = len(ids) - 1
    if n_targets < 1:
        return EvalResult(float("nan"), 0, 0)
    total = 0.0
    starts = list(range(0, n_targets, block))
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        # La última ventana puede ser más corta: la evaluamos sola para no rellenar.
        full = [s for s in chunk if s + block <= n_targets]
        partial = [s for s in chunk if s + block > n_targets]
        groups = [(full, block)] + [([s], n_targets - s) for s in partial]
        for group, length in groups:
            if not group:
                continue
            x = torch.stack([ids[s : s + length] for s in group]).to(device)
            y = torch.stack([ids[s + 1 : s + 1 + length] for s in group]).to(device)
            logits, _ = model(x)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), reduction="sum"
            )
            total += float(loss)
    return EvalResult(total / n_targets, n_targets, n_targets if chars is None else chars)

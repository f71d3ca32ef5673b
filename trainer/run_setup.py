"""Preparar un entrenamiento antes del primer paso: el texto, la configuración del modelo, si
cabe en memoria y el modelo (nuevo o el del checkpoint que se reanuda)."""

from __future__ import annotations

import torch

from shared.checkpoints.files import clean_stale_temp_files
from shared.checkpoints.models import LanguageModel, build_model
from shared.common.memory_estimate import check_fits, estimate_training
from shared.config import ModelConfig
from trainer.data import TextDataset
from trainer.distributed import DistContext
from trainer.run_files import ResumeState
from trainer.settings import TrainSettings


def check_memory(config: ModelConfig, batch_size: int, device: torch.device) -> None:
    """Antes de reservar nada: pesos, gradientes, AdamW y activaciones del lote, ¿caben?"""
    # La atención explícita y la de bf16 en CPU crean las matrices T×T; sdpa en GPU, no.
    sdpa_on_gpu = getattr(config, "attention", "") == "sdpa" and device.type == "cuda"
    estimate = estimate_training(config, batch_size, attention_matrices=not sdpa_on_gpu)
    check_fits(estimate, device, f"entrenar con --batch-size {batch_size}")


def load_data_and_model(
    s: TrainSettings, resume: ResumeState | None, device: torch.device, dist: DistContext
) -> tuple[TextDataset, LanguageModel]:
    """El texto (con el tokenizador del checkpoint, al reanudar) y el modelo, en modo train."""
    torch.manual_seed(s.seed)  # los pesos iniciales: iguales en todos los ranks
    tokenizer = resume.checkpoint.tokenizer if resume else None
    data = TextDataset.from_file(s.data, s.block_size, tokenizer, s.tokenizer, s.vocab_size)
    if resume:
        config = resume.checkpoint.config
    else:
        config = s.model_config(data.tokenizer.vocab_size)
    check_memory(config, s.batch_size, device)
    if dist.is_main:  # temporales de un guardado que un SIGKILL dejó a medias
        clean_stale_temp_files(s.checkpoint_dir)
    if resume:
        model = resume.checkpoint.build_model(device)
    else:
        model = build_model(s.model, config).to(device)
    model.train()
    return data, model

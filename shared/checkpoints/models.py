"""Construcción de cualquiera de los dos modelos a partir de su tipo y su configuración."""

from __future__ import annotations

from shared.bigram_model import BigramLanguageModel
from shared.common.errors import ConfigError
from shared.config import BigramConfig, GPTConfig, ModelConfig
from shared.transformer_model import GPT

LanguageModel = BigramLanguageModel | GPT


def build_model(model_type: str, config: ModelConfig) -> LanguageModel:
    if model_type == "bigram" and isinstance(config, BigramConfig):
        return BigramLanguageModel(config)
    if model_type == "gpt" and isinstance(config, GPTConfig):
        return GPT(config)
    raise ConfigError(f"tipo de modelo desconocido o configuración incoherente: '{model_type}'.")

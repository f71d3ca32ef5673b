"""Construcción de cualquiera de los dos modelos a partir de su tipo y su configuración, y los
tipos de modelo y de tokenizador que puede llevar un checkpoint."""

from __future__ import annotations

from shared.bigram_model import BigramLanguageModel
from shared.bpe_tokenizer import BPETokenizer
from shared.common.errors import ConfigError
from shared.config import BigramConfig, GPTConfig, ModelConfig
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT

LanguageModel = BigramLanguageModel | GPT
# Los dos tokenizadores tienen la misma interfaz: encode, decode, vocab_size, unknown_chars,
# token_bytes, token_text y to_dict/from_dict.
Tokenizer = CharTokenizer | BPETokenizer
TOKENIZER_TYPES = {"char": CharTokenizer, "bpe": BPETokenizer}


def tokenizer_kind(tokenizer: Tokenizer) -> str:
    """``char`` o ``bpe``: el nombre con el que se guarda y se elige (--tokenizer)."""
    return "char" if isinstance(tokenizer, CharTokenizer) else "bpe"


def build_model(model_type: str, config: ModelConfig) -> LanguageModel:
    if model_type == "bigram" and isinstance(config, BigramConfig):
        return BigramLanguageModel(config)
    if model_type == "gpt" and isinstance(config, GPTConfig):
        return GPT(config)
    raise ConfigError(f"tipo de modelo desconocido o configuración incoherente: '{model_type}'.")

"""Lo que comparten las rutas que atienden a un modelo: el prompt frente a su vocabulario, la
semilla de cada petición y el resumen del modelo que responde.

Las rutas (server/routes/) importan de aquí y nunca unas de otras.
"""

from __future__ import annotations

import secrets

from server.errors import APIError
from server.model_store import LoadedModel
from server.schemas import ModelSummary
from shared.common.errors import TokenizerError

RANDOM_SEED_LIMIT = 2**31  # semillas aleatorias cortas: más fáciles de copiar y repetir


def model_summary(loaded: LoadedModel) -> ModelSummary:
    ckpt = loaded.checkpoint
    return ModelSummary(
        name=loaded.name, type=ckpt.model_type, step=ckpt.step, val_loss=ckpt.val_loss
    )


def check_vocabulary(prompt: str, loaded: LoadedModel) -> int:
    """Caracteres que el modelo no conoce: 422 con la lista exacta, antes de empezar a responder.
    Si los conoce todos, devuelve cuántos tokens ocupa el prompt (ya está codificado).

    Es la comprobación del propio tokenizador (la misma que hace la CLI), con su mensaje; aquí
    solo se le pone forma HTTP. El resto del cuerpo ya lo comprobó pydantic (server/schemas.py).
    """
    try:
        return len(loaded.tokenizer.encode(prompt))
    except TokenizerError as exc:
        raise APIError(
            422, f"{exc} Consulta GET /info para ver el vocabulario.", param="prompt"
        ) from None


def prompt_tokens(loaded: LoadedModel, prompt: str) -> int:
    """Cuántos tokens del modelo ocupa el prompt (con el tokenizador de caracteres, sus
    caracteres). Ya pasó ``check_vocabulary``."""
    return len(loaded.tokenizer.encode(prompt))


def resolve_seed(seed: int | None) -> int:
    return secrets.randbelow(RANDOM_SEED_LIMIT) if seed is None else seed

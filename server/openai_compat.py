"""Lo que /v1/completions necesita para hablar como la API de OpenAI: los campos que se ignoran,
las log-probabilidades con su forma y el error de /v1/chat/completions.

Las log-probabilidades salen de la distribución con la que se sortea cada carácter, es decir,
después de aplicar temperature, top_k y top_p (``shared/sampling.py``): con temperature 0 el
elegido tiene log p = 0 y las alternativas filtradas (probabilidad 0) no se listan. Las de las
alternativas se calculan de sus probabilidades con 6 decimales (las mismas que da ``top_probs``
en /generate); la del carácter elegido, de la probabilidad sin redondear.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel

from server.errors import UNSUPPORTED, APIError
from server.openai_schemas import CompletionLogprobs
from shared.generation import GeneratedChar

IGNORED_HEADER = "X-Ignored-Fields"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_NAMED = 20  # una cabecera acotada aunque el cuerpo traiga miles de campos

CHAT_MESSAGE = (
    "este servidor no tiene /v1/chat/completions. Sirve un modelo base: se entrenó solo para "
    "continuar prosa, carácter a carácter, y nunca vio conversaciones con turnos (system, user, "
    "assistant) ni una plantilla de chat, así que no sabe contestar como un asistente: para él, "
    "una pregunta es un texto más que continuar. Usa POST /v1/completions con el comienzo de un "
    "texto en 'prompt' (por ejemplo, 'Había una vez') y el modelo lo continuará."
)

SUFFIX_MESSAGE = (
    "'suffix' no se admite: el modelo solo lee hacia delante (cada carácter mira a los "
    "anteriores), así que no sabe rellenar un hueco entre un prompt y un final. Quita 'suffix' "
    "y pon todo el texto previo en 'prompt'."
)


def ignored_fields(data: dict[str, Any], model_cls: type[BaseModel]) -> list[str]:
    """Los campos del cuerpo que ``model_cls`` no conoce, en el orden en que llegaron."""
    return [key for key in data if key not in model_cls.model_fields]


def ignored_header(names: list[str]) -> str:
    """El valor de ``X-Ignored-Fields``: los nombres con caracteres seguros para una cabecera
    (un nombre con saltos de línea o espacios cuenta, pero no se copia)."""
    safe = [n for n in names if _SAFE_NAME.fullmatch(n)]
    shown = safe[:_MAX_NAMED]
    rest = len(names) - len(shown)
    return ", ".join(shown + ([f"+{rest}"] if rest else []))


def refuse_chat() -> APIError:
    return APIError(404, CHAT_MESSAGE, kind=UNSUPPORTED)


def refuse_suffix() -> APIError:
    return APIError(400, SUFFIX_MESSAGE, param="suffix", kind=UNSUPPORTED)


def _log(prob: float) -> float | None:
    return math.log(prob) if prob > 0 else None


def generated_logprobs(chars: list[GeneratedChar], offset: int) -> CompletionLogprobs:
    """Las log-probabilidades de ``chars``, que empiezan en la posición ``offset`` del texto."""
    offsets = []
    for char in chars:
        offsets.append(offset)
        offset += len(char.text)
    return CompletionLogprobs(
        tokens=[c.text for c in chars],
        token_logprobs=[_log(c.prob) for c in chars],
        top_logprobs=[{t: math.log(p) for t, p in c.top if p > 0} for c in chars],
        text_offset=offsets,
    )


def prompt_logprobs(prompt: str) -> CompletionLogprobs:
    """Con ``echo``, los caracteres del prompt entran en la lista sin puntuar (null): el servidor
    no pasa el prompt por el modelo para puntuarlo."""
    return CompletionLogprobs(
        tokens=list(prompt),
        token_logprobs=[None] * len(prompt),
        top_logprobs=[None] * len(prompt),
        text_offset=list(range(len(prompt))),
    )


def join_logprobs(parts: list[CompletionLogprobs]) -> CompletionLogprobs:
    return CompletionLogprobs(
        tokens=[t for p in parts for t in p.tokens],
        token_logprobs=[t for p in parts for t in p.token_logprobs],
        top_logprobs=[t for p in parts for t in p.top_logprobs],
        text_offset=[t for p in parts for t in p.text_offset],
    )

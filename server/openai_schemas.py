"""Forma de las peticiones y respuestas de /v1/completions, la API de OpenAI (pydantic).

A diferencia del resto (server/schemas.py), un campo desconocido no es un error: los clientes de
OpenAI mandan campos que aquí no existen (``user``, ``frequency_penalty``...), y la ruta los
ignora y los nombra (cabecera ``X-Ignored-Fields`` y una línea en el registro). Los topes y los
tipos de los campos que sí existen son los mismos que en /generate.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from server.schemas import (
    MAX_CHOICES,
    SEED_DESCRIPTION,
    STOP_DESCRIPTION,
    Int,
    OptionalInt,
    Seed,
    Stop,
    Temperature,
    TopP,
    new_tokens_cap,
    prompt_cap,
    stop_check,
)

MAX_LOGPROBS = 5  # como la API de OpenAI
OPENAI_DEFAULT_TOKENS = 16  # max_tokens si no se dice (como OpenAI)


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    include_usage: bool = Field(
        False, description="true: un último trozo, sin choices, con usage (antes de [DONE])."
    )


def _prompt_count_check(prompt: Any) -> Any:
    # Antes que los tipos: un solo mensaje claro, y no uno por cada forma del campo.
    if isinstance(prompt, list) and not 1 <= len(prompt) <= MAX_CHOICES:
        raise PydanticCustomError("prompt_list", "lista de prompts", {"limit": MAX_CHOICES})
    return prompt


def _prompts_cap(prompt: str | list[str], info: ValidationInfo) -> str | list[str]:
    if isinstance(prompt, list):
        for item in prompt:
            prompt_cap(item, info)
        return prompt
    return prompt_cap(prompt, info)


class CompletionRequest(BaseModel):
    """Cuerpo de POST /v1/completions: el subconjunto compatible con OpenAI.

    Los campos que no están aquí se ignoran (y se nombran en la respuesta)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    model: str | None = Field(
        None,
        description="Identificador de un modelo de GET /v1/models. Vacío: el último utilizable.",
    )
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=MAX_CHOICES)] = Field(
        "",
        description=f"Texto inicial, o una lista de hasta {MAX_CHOICES} (una respuesta por cada "
        "uno).",
    )
    # Solo vacío o null: un texto da 400 antes de validar (server/routes/completions.py).
    suffix: Annotated[str, Field(max_length=0)] | None = Field(
        None, description="No se admite (400): un modelo que solo lee hacia delante no rellena."
    )
    # validate_default: el 16 por defecto también respeta MAX_NEW_TOKENS (si es menor, 422).
    max_tokens: OptionalInt = Field(
        OPENAI_DEFAULT_TOKENS,
        ge=1,
        validate_default=True,
        description=f"Caracteres a generar ({OPENAI_DEFAULT_TOKENS} si falta o es null, como "
        "OpenAI).",
    )
    temperature: Temperature = Field(1.0, description="Como en /generate.")
    top_p: TopP = Field(1.0, description="Como en /generate.")
    seed: Seed = Field(None, description=SEED_DESCRIPTION)
    stream: bool = Field(False, description="true: trozos SSE y al final 'data: [DONE]'.")
    stream_options: StreamOptions | None = Field(None, description="Solo con stream=true.")
    n: Int = Field(
        1,
        ge=1,
        le=MAX_CHOICES,
        description="Muestras por prompt; la i usa seed + i.",
    )
    logprobs: OptionalInt = Field(
        None,
        ge=0,
        le=MAX_LOGPROBS,
        description="Con N, cada carácter generado lleva su log-probabilidad y las de los N "
        "más probables, de la distribución tras temperature y top_p (la que se sortea).",
    )
    echo: bool = Field(False, description="true: el texto de cada respuesta empieza por su prompt.")
    stop: Stop = Field(None, description=STOP_DESCRIPTION)

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _null_tokens(cls, value: Any) -> Any:
        return OPENAI_DEFAULT_TOKENS if value is None else value

    _prompt_count = field_validator("prompt", mode="before")(_prompt_count_check)
    _prompt = field_validator("prompt")(_prompts_cap)
    _cap = field_validator("max_tokens")(new_tokens_cap)
    _stop = field_validator("stop", mode="before")(stop_check)

    @property
    def prompts(self) -> list[str]:
        return self.prompt if isinstance(self.prompt, list) else [self.prompt]


# --- respuestas ---------------------------------------------------------------------------


class CompletionLogprobs(BaseModel):
    """La forma de OpenAI (completions): una entrada por carácter del texto de la respuesta."""

    tokens: list[str]
    token_logprobs: list[float | None] = Field(
        description="log p del carácter elegido (null en los del prompt con echo)."
    )
    top_logprobs: list[dict[str, float] | None] = Field(
        description="Los N más probables en ese paso, con su log p (sin los de probabilidad 0)."
    )
    text_offset: list[int] = Field(description="Posición de cada carácter en 'text'.")


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: CompletionLogprobs | None = None
    finish_reason: Literal["length", "stop"] | None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None

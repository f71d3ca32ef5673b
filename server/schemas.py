"""Forma de las peticiones y respuestas JSON (pydantic).

Las mismas clases validan las peticiones y generan los esquemas de /openapi.json, así que la
documentación no puede desfasarse del código. Los tipos son estrictos: ``"5"`` no vale como
número ni ``1`` como ``true``; un campo desconocido es un error, no se ignora en silencio. La
excepción es /v1/completions (server/openai_schemas.py): los clientes de OpenAI mandan campos
que aquí no existen, y esa ruta los ignora y los nombra.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from server.stops import MAX_STOP_CHARS, MAX_STOPS
from shared.sampling import MAX_SEED

MAX_TEMPERATURE = 10.0
MAX_TOP_K = 1_000_000
MAX_TOP_PROBS = 10
MAX_CHOICES = 4
DEFAULT_NEW_TOKENS = 200  # si la petición no dice cuántos (y el tope lo permite)


def _integral_float(value: Any) -> Any:
    # JSON no distingue 3 de 3.0 (JSON Schema los considera enteros a los dos); 3.5 sigue
    # siendo un error, y también "3" o true.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_integral_float)]
OptionalInt = Annotated[int | None, BeforeValidator(_integral_float)]

# Cada límite de muestreo de la frontera HTTP, escrito una vez: /generate y /v1/completions usan
# los mismos tipos. Por debajo, SamplingParams (shared/sampling.py) comprueba lo suyo al crearse.
Temperature = Annotated[float, Field(ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False)]
TopP = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Seed = Annotated[Annotated[int, Field(ge=0, le=MAX_SEED)] | None, BeforeValidator(_integral_float)]
SEED_DESCRIPTION = "Misma semilla, mismo texto. Vacío: aleatoria."
StopText = Annotated[str, Field(min_length=1, max_length=MAX_STOP_CHARS)]
Stop = StopText | Annotated[list[StopText], Field(max_length=MAX_STOPS)] | None
STOP_DESCRIPTION = (
    f"Texto, o lista de hasta {MAX_STOPS}, en el que se corta la generación: la respuesta "
    "termina justo antes de la primera aparición (sin incluirla)."
)


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


# Los topes que dependen de los ajustes del servidor (MAX_PROMPT_CHARS, MAX_NEW_TOKENS) llegan
# como contexto de la validación (``limits``): así pydantic es la única comprobación del cuerpo.
def limits(max_prompt_chars: int, max_new_tokens: int) -> dict[str, int]:
    return {"max_prompt_chars": max_prompt_chars, "max_new_tokens": max_new_tokens}


def prompt_cap(prompt: str, info: ValidationInfo) -> str:
    limit = (info.context or {}).get("max_prompt_chars")
    if limit is not None and len(prompt) > limit:
        raise PydanticCustomError(
            "prompt_too_long", "prompt demasiado largo", {"length": len(prompt), "limit": limit}
        )
    return prompt


def stop_check(stop: Any) -> Any:
    """Antes que los tipos: así cada error de ``stop`` tiene su mensaje (y no uno por cada
    forma que admite el campo)."""
    if stop is None:
        return None
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise PydanticCustomError("stop_type", "stop no es texto ni lista de textos")
    if len(items) > MAX_STOPS:
        raise PydanticCustomError("stop_count", "demasiadas paradas", {"limit": MAX_STOPS})
    if not all(1 <= len(i) <= MAX_STOP_CHARS for i in items):
        raise PydanticCustomError(
            "stop_length", "parada vacía o demasiado larga", {"limit": MAX_STOP_CHARS}
        )
    return stop


def new_tokens_cap(value: int | None, info: ValidationInfo) -> int | None:
    cap = (info.context or {}).get("max_new_tokens")
    if value is not None and cap is not None and value > cap:
        raise PydanticCustomError("server_cap", "por encima del tope del servidor", {"cap": cap})
    return value


class GenerateRequest(StrictModel):
    """Cuerpo de POST /generate."""

    prompt: str = Field("", description="Texto inicial. Vacío: se parte de un salto de línea.")
    model: str | None = Field(
        None,
        description="Identificador de un modelo de GET /v1/models. Vacío: el último utilizable.",
    )
    max_new_tokens: OptionalInt = Field(
        None,
        ge=1,
        description=f"Caracteres a generar (por defecto {DEFAULT_NEW_TOKENS}, o el tope si es "
        "menor).",
    )
    temperature: Temperature = Field(
        1.0, description="0 = siempre el más probable; <1 conservador; >1 creativo."
    )
    top_k: Int = Field(0, ge=0, le=MAX_TOP_K, description="Solo los k más probables (0 = todos).")
    top_p: TopP = Field(1.0, description="Solo el núcleo con probabilidad acumulada p (1 = todos).")
    seed: Seed = Field(None, description=SEED_DESCRIPTION)
    stream: bool = Field(False, description="true: respuesta text/event-stream (SSE).")
    top_probs: Int = Field(
        0,
        ge=0,
        le=MAX_TOP_PROBS,
        description="Cuántas probabilidades del siguiente carácter devolver en cada paso.",
    )
    stop: Stop = Field(None, description=STOP_DESCRIPTION)

    _prompt = field_validator("prompt")(prompt_cap)
    _cap = field_validator("max_new_tokens")(new_tokens_cap)
    _stop = field_validator("stop", mode="before")(stop_check)


class AttentionRequest(StrictModel):
    """Cuerpo de POST /attention."""

    prompt: str = Field(description="Texto cuya atención se calcula (al menos un carácter).")
    model: str | None = Field(
        None,
        description="Identificador de un modelo de GET /v1/models. Vacío: el último utilizable.",
    )

    _prompt = field_validator("prompt")(prompt_cap)


# --- respuestas ---------------------------------------------------------------------------


class ModelSummary(BaseModel):
    name: str
    type: str
    step: int
    val_loss: float | None


class Usage(BaseModel):
    prompt_chars: int
    generated_chars: int
    # max_new_tokens cuenta tokens: con char, los mismos que caracteres; con bpe, menos.
    prompt_tokens: int
    generated_tokens: int


class Timings(BaseModel):
    total_ms: float
    chars_per_second: float
    tokens_per_second: float


class TopProb(BaseModel):
    char: str = Field(description="El token como texto visible (con bpe, «·» es un espacio).")
    prob: float


class CharStep(BaseModel):
    text: str = Field(description="El texto que añade este token (con bpe, puede ser vacío).")
    top: list[TopProb]
    token: str = Field("", description="El token elegido como texto visible.")


class GenerateResponse(BaseModel):
    text: str
    model: ModelSummary
    usage: Usage
    timings: Timings
    seed: int = Field(description="La semilla usada: repítela para obtener el mismo texto.")
    finish_reason: Literal["length", "stop"] = Field(
        description="'stop' si el texto acabó en una de las paradas de 'stop'; si no, 'length'."
    )
    chars: list[CharStep] | None = Field(
        None, description="Solo si top_probs > 0: cada carácter con sus alternativas."
    )


class StreamChunk(BaseModel):
    """Un evento ``data:`` del streaming de /generate (el final es ``event: done``)."""

    index: int
    text: str
    top: list[TopProb] | None = None
    token: str | None = None


class ErrorBody(BaseModel):
    code: int
    type: str
    message: str
    param: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    model: ModelSummary


class ModelDetails(ModelSummary):
    # null con API_KEY para quien no manda la clave (ver 'redacted').
    name: str | None = None  # type: ignore[assignment]
    run_name: str | None
    created_at: str
    file: str | None
    loaded_at: str
    parameters: int
    config: dict[str, int | float | str | bool]


class Vocabulary(BaseModel):
    size: int
    chars: list[str] = Field(
        description="Los caracteres del vocabulario (tokenizador char); con bpe, vacía: sus 256 "
        "bytes codifican cualquier texto."
    )
    tokenizer: str = Field("char", description="char (un token por carácter) o bpe.")


class Limits(BaseModel):
    max_new_tokens: int
    max_prompt_chars: int
    max_body_bytes: int
    max_concurrent_generations: int
    max_attention_chars: int
    max_temperature: float
    max_top_probs: int
    max_choices: int


class RejectedCheckpoint(BaseModel):
    file: str
    reason: str
    rejected_at: str


class InfoResponse(BaseModel):
    ready: bool
    model: ModelDetails | None
    vocab: Vocabulary | None
    block_size: int | None
    limits: Limits
    auth_required: bool
    rejected_checkpoints: list[RejectedCheckpoint] = Field(
        description="Checkpoints del directorio que este worker descartó (corruptos, con datos "
        "inválidos, demasiado grandes...), el más reciente primero, con el motivo. Se sigue "
        "sirviendo el modelo anterior."
    )
    checkpoint_dir: str | None  # de qué carpeta sirve (checkpoints/gpt, checkpoints/bigram...)
    redacted: bool = Field(
        description="true: el servidor tiene API_KEY y la petición no la trae, así que se omiten "
        "la carpeta, los ficheros, los nombres y los checkpoints descartados (null o vacío)."
    )


class AttentionResponse(BaseModel):
    chars: list[str] = Field(description="Los T caracteres del prompt.")
    layers: list[list[list[list[float]]]] = Field(
        description="layers[l][h][i][j]: peso que la consulta i da a la clave j en la cabeza h "
        "de la capa l. Cada fila suma 1; por encima de la diagonal (el futuro) todo es 0."
    )
    model: ModelSummary


class ModelEntry(BaseModel):
    id: str = Field(
        description="Nombre del fichero sin .pt (con 'bigram:' o 'gpt:' delante si está en la "
        "carpeta hermana de ese modelo): el valor de 'model'."
    )
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "llm-desde-cero"
    type: str
    step: int
    val_loss: float | None
    tokenizer: str = Field("char", description="char (un token por carácter) o bpe.")
    loaded: bool = Field(description="Si este worker lo tiene ya en memoria.")
    default: bool = Field(description="Si es el que se usa cuando no se pide ninguno.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelEntry]


class MetricsPoint(BaseModel):
    model_config = ConfigDict(extra="allow")

    step: int


class ModelMetrics(BaseModel):
    id: str
    points: list[MetricsPoint] = Field(
        description="Las líneas del JSONL de métricas de su ejecución (step, train_loss, "
        "val_loss...), tal como las escribe el entrenador; vacío si no hay fichero."
    )

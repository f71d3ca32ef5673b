"""Del cuerpo HTTP a un objeto validado, con mensajes en español para cada fallo."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from server.errors import HTTP_MESSAGES, APIError
from server.openai_schemas import MAX_LOGPROBS
from server.schemas import MAX_CHOICES, MAX_TEMPERATURE, MAX_TOP_PROBS, limits
from server.settings import Settings
from shared.sampling import MAX_SEED

M = TypeVar("M", bound=BaseModel)

# Plantillas por tipo de error de pydantic. {param} es el campo; el resto viene del contexto.
TEMPLATES: dict[str, str] = {
    "missing": "falta el campo obligatorio '{param}'.",
    "extra_forbidden": "campo desconocido '{param}'; los campos válidos son: {fields}.",
    "int_type": "'{param}' debe ser un número entero.",
    "int_parsing": "'{param}' debe ser un número entero.",
    "int_from_float": "'{param}' debe ser un número entero.",
    "float_type": "'{param}' debe ser un número.",
    "float_parsing": "'{param}' debe ser un número.",
    "finite_number": "'{param}' debe ser un número finito.",
    "string_type": "'{param}' debe ser un texto (string).",
    "bool_type": "'{param}' debe ser true o false.",
    "greater_than_equal": "'{param}' debe ser mayor o igual que {ge}.",
    "greater_than": "'{param}' debe ser mayor que {gt}.",
    "less_than_equal": "'{param}' debe ser menor o igual que {le}.",
    "less_than": "'{param}' debe ser menor que {lt}.",
    "none_required": "'{param}' debe ser null.",
    "literal_error": "'{param}' debe ser uno de: {expected}.",
    # Los topes del servidor (server/schemas.py, con los ajustes como contexto).
    "server_cap": "'{param}' debe ser menor o igual que {cap} (el tope del servidor).",
    "prompt_too_long": "el prompt tiene {length} caracteres y el máximo es {limit}.",
    "string_too_short": "'{param}' no puede estar vacío.",
    "string_too_long": "'{param}' tiene más de {max_length} caracteres.",
    "too_long": "'{param}' admite como mucho {max_length} elementos.",
    "stop_length": "cada parada de '{param}' debe tener entre 1 y {limit} caracteres.",
    "stop_type": "'{param}' debe ser un texto o una lista de textos.",
    "stop_count": "'{param}' admite como mucho {limit} paradas.",
    "prompt_list": "'{param}' es una lista de 1 a {limit} textos.",
}

# Una pista didáctica por campo: qué significa y qué valores tienen sentido.
HINTS: dict[str, str] = {
    "temperature": (
        f"La temperatura va de 0 (siempre el carácter más probable) a {MAX_TEMPERATURE:g}."
    ),
    "top_k": "top_k es cuántos caracteres compiten; 0 = todos.",
    "top_p": "top_p es la probabilidad acumulada del núcleo, en (0, 1]; 1 = sin filtro.",
    "seed": (
        f"La semilla es un entero entre 0 y 2^{MAX_SEED.bit_length()}-1, o null para una aleatoria."
    ),
    "top_probs": f"top_probs es cuántas alternativas mostrar por carácter, de 0 a {MAX_TOP_PROBS}.",
    "n": f"n es cuántas muestras generar, de 1 a {MAX_CHOICES}.",
    "stop": "stop es un texto o una lista de textos en los que cortar la generación.",
    "logprobs": f"logprobs es cuántas alternativas dar por carácter, de 0 a {MAX_LOGPROBS}.",
}


class _BadJSON(ValueError):
    """Un fallo del JSON cuyo mensaje en español ya es el definitivo."""


# Como el límite de Python (sys.get_int_max_str_digits): más cifras no caben en ningún campo.
MAX_INT_DIGITS = 4300


def read_json_object() -> dict[str, Any]:
    """Comprueba el tipo de contenido y decodifica el cuerpo como objeto JSON."""
    if request.mimetype != "application/json":
        got = request.mimetype or "ninguno"
        raise APIError(
            415,
            f"el cuerpo debe ser JSON: usa la cabecera 'Content-Type: application/json' "
            f"(recibido: {got}).",
        )
    raw = _read_body()
    if not raw.strip():
        raise APIError(400, "el cuerpo está vacío: envía un objeto JSON, por ejemplo {}.")
    try:
        # utf-8-sig: un BOM inicial (lo añaden algunos editores de Windows) se ignora.
        text = raw.decode("utf-8-sig")
        data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
        _reject_surrogates(data)
    except UnicodeDecodeError:
        raise APIError(400, "el cuerpo no está codificado en UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise APIError(
            400,
            f"el cuerpo no es JSON válido (línea {exc.lineno}, columna {exc.colno}).",
        ) from None
    except _BadJSON as exc:
        raise APIError(400, str(exc)) from None
    except RecursionError:
        raise APIError(400, "el JSON está anidado demasiado profundamente.") from None
    except ValueError:
        raise APIError(400, "el cuerpo no es JSON válido.") from None
    if not isinstance(data, dict):
        raise APIError(422, 'el cuerpo debe ser un objeto JSON, por ejemplo {"prompt": "Hola"}.')
    return data


def _read_body() -> bytes:
    """El cuerpo entero; más de MAX_BODY_BYTES es un 413, también si llega troceado (chunked).

    Werkzeug corta en silencio un cuerpo troceado en MAX_CONTENT_LENGTH (no hay Content-Length
    que comparar): si tras el máximo aún queda algo en la entrada, el cuerpo era demasiado grande.
    """
    raw = request.get_data(cache=True)  # Content-Length > MAX_BODY_BYTES → 413 (Werkzeug)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and request.content_length is None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise APIError(413, HTTP_MESSAGES[413].format(limit=limit))
    return raw


def _reject_constant(name: str) -> None:
    raise _BadJSON(f"el JSON estándar no admite {name}; usa un número finito.")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _BadJSON(f"un número entero del JSON tiene más de {MAX_INT_DIGITS} cifras.")
    return int(text)


def _reject_surrogates(value: Any) -> None:
    """Un «\\ud800» suelto en el JSON no es un carácter: ni texto ni nombre de campo válido."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadJSON(
                "el JSON contiene un carácter no válido: un sustituto UTF-16 suelto (como "
                "\\ud800) que no forma pareja; envía texto Unicode válido."
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_surrogates(key)
            _reject_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _reject_surrogates(item)


def validate(model_cls: type[M], data: dict[str, Any], context: dict[str, Any] | None = None) -> M:
    """Valida con pydantic y traduce el primer error a un ``APIError`` 422 en español.

    ``context``: los topes del servidor (``server.schemas.limits``)."""
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as exc:
        raise APIError(422, *_first_error(exc, model_cls)) from None


def _first_error(exc: ValidationError, model_cls: type[BaseModel]) -> tuple[str, str | None]:
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = [str(part) for part in err.get("loc", ())]
    param = loc[0] if loc else None
    # 0.0 → 0, 1.0 → 1: los límites se leen mejor sin decimales sobrantes.
    ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in (err.get("ctx") or {}).items()}
    fields = ", ".join(model_cls.model_fields)
    fallback = "'{param}' no es válido." if param else "el cuerpo de la petición no es válido."
    template = TEMPLATES.get(err["type"], fallback)
    message = template.format(param=param, fields=fields, **ctx)
    hint = HINTS.get(param or "")
    if hint and err["type"] not in ("extra_forbidden", "missing"):
        message = f"{message} {hint}"
    if len(errors) > 1:
        message = f"{message} (y {len(errors) - 1} error(es) más)"
    return message, param


def read_request(model_cls: type[M], settings: Settings) -> M:
    """El cuerpo JSON de la petición, validado con los topes de este servidor (``settings``)."""
    return validate(
        model_cls, read_json_object(), limits(settings.max_prompt_chars, settings.max_new_tokens)
    )

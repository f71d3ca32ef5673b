"""El documento OpenAPI 3.1 de /openapi.json, generado a partir de las clases de schemas.py.

Se construye en cada petición porque depende del servidor: el tope de caracteres, la longitud
máxima del prompt y, si hay modelo, su vocabulario (un patrón que dice qué caracteres admite el
prompt). Así, lo que el documento declara válido es exactamente lo que el servidor acepta.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic.json_schema import models_json_schema

from server.openai_schemas import CompletionRequest, CompletionResponse
from server.schemas import (
    AttentionRequest,
    AttentionResponse,
    ErrorResponse,
    GenerateRequest,
    GenerateResponse,
    HealthResponse,
    InfoResponse,
    ModelList,
    ModelMetrics,
    ReadyResponse,
    StreamChunk,
)
from server.settings import Settings

MODELS = (
    GenerateRequest,
    GenerateResponse,
    StreamChunk,
    CompletionRequest,
    CompletionResponse,
    ErrorResponse,
    HealthResponse,
    ReadyResponse,
    InfoResponse,
    AttentionRequest,
    AttentionResponse,
    ModelList,
    ModelMetrics,
)

ERROR_TEXT = {
    400: "JSON mal formado o cuerpo vacío (o 'suffix' en /v1/completions: no se admite).",
    401: "Falta la clave de API o no es correcta (solo si el servidor tiene API_KEY).",
    413: "El cuerpo supera MAX_BODY_BYTES.",
    404: "'model' no es ninguno de GET /v1/models (los nombres nunca son rutas).",
    415: "Content-Type distinto de application/json.",
    422: "Campo que falta, sobra, con tipo equivocado, fuera de rango o caracteres desconocidos.",
    429: "Demasiadas generaciones a la vez en este worker, u otro modelo cargándose en él: "
    "reintenta en unos segundos.",
    503: "Todavía no hay ningún modelo cargado.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def vocab_pattern(chars: list[str]) -> str:
    """Expresión regular que solo admite caracteres del vocabulario (para el campo prompt)."""
    escaped = "".join(
        "\\n" if c == "\n" else "\\t" if c == "\t" else re.escape(c) if c in "\\]^-[" else c
        for c in chars
    )
    return f"^[{escaped}]*$"


def _schemas(
    settings: Settings, chars: list[str] | None, model_ids: list[str] | None, attention_chars: int
) -> dict[str, Any]:
    _, top = models_json_schema(
        [(m, "validation") for m in MODELS], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = top["$defs"]
    for name, tokens_field in (
        ("GenerateRequest", "max_new_tokens"),
        ("CompletionRequest", "max_tokens"),
    ):
        props = schemas[name]["properties"]
        field = props[tokens_field]
        for option in field.get("anyOf", [field]):
            if option.get("type") == "integer":
                option["maximum"] = settings.max_new_tokens
        # /v1/completions admite también una lista de prompts: cada texto, con los mismos topes.
        prompt = props["prompt"]
        texts = [prompt, *(o["items"] for o in prompt.get("anyOf", []) if "items" in o)]
        for text in texts:
            text["maxLength"] = settings.max_prompt_chars
            if chars:
                text["pattern"] = vocab_pattern(chars)
    prompt = schemas["AttentionRequest"]["properties"]["prompt"]
    prompt["minLength"], prompt["maxLength"] = 1, attention_chars
    if chars:
        prompt["pattern"] = vocab_pattern(chars)
    if model_ids is not None:  # "model" solo admite los identificadores de GET /v1/models
        for name in ("GenerateRequest", "CompletionRequest", "AttentionRequest"):
            for option in schemas[name]["properties"]["model"].get("anyOf", []):
                if option.get("type") == "string":
                    option["enum"] = model_ids
    return schemas


def _json_data(schema_name: str) -> dict[str, Any]:
    """Campo ``data`` de un evento SSE que lleva un JSON con el esquema dado."""
    return {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": _ref(schema_name),
    }


def _sse_event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"const": name}, "data": data},
    }


# Cada evento del streaming, como lo describe OpenAPI: un objeto {event, data} por evento.
SSE_EVENTS: dict[str, dict[str, Any]] = {
    "GenerateResponse": {
        "oneOf": [
            _sse_event("message", _json_data("StreamChunk")),
            _sse_event("done", _json_data("GenerateResponse")),
            _sse_event("error", _json_data("ErrorResponse")),
        ]
    },
    "CompletionResponse": {
        "oneOf": [
            _sse_event(
                "message", {"anyOf": [{"const": "[DONE]"}, _json_data("CompletionResponse")]}
            ),
            _sse_event("error", _json_data("ErrorResponse")),
        ]
    },
}


def _generation_op(
    summary: str, description: str, request: str, response: str, settings: Settings
) -> dict[str, Any]:
    errors = [400, 404, 413, 415, 422, 429, 503] + ([401] if settings.api_key else [])
    op: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(request)}},
        },
        "responses": {
            "200": {
                "description": "Texto generado (JSON) o, con stream=true, eventos SSE.",
                "content": {
                    "application/json": {"schema": _ref(response)},
                    "text/event-stream": {"schema": SSE_EVENTS[response]},
                },
            },
            **{
                str(code): _json(_ref("ErrorResponse"), ERROR_TEXT[code]) for code in sorted(errors)
            },
        },
    }
    if settings.api_key:
        op["security"] = [{"bearerAuth": []}]
    return op


def _get_op(summary: str, description: str, response: str, settings: Settings) -> dict[str, Any]:
    responses = {"200": _json(_ref(response), "Correcto.")}
    if response == "ModelMetrics":
        responses["404"] = _json(_ref("ErrorResponse"), ERROR_TEXT[404])
    if settings.api_key:
        responses["401"] = _json(_ref("ErrorResponse"), ERROR_TEXT[401])
    op: dict[str, Any] = {"summary": summary, "description": description, "responses": responses}
    if settings.api_key:
        op["security"] = [{"bearerAuth": []}]
    return op


def _attention_op(settings: Settings) -> dict[str, Any]:
    errors = [400, 404, 413, 415, 422, 429, 503] + ([401] if settings.api_key else [])
    op: dict[str, Any] = {
        "summary": "Mapa de atención",
        "description": "Pesos de atención de cada capa y cabeza para el prompt (como mucho "
        f"{settings.max_attention_chars} caracteres y el block_size del modelo), calculados con la "
        "atención explícita de la lección. Un modelo bigrama no tiene atención: 422.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("AttentionRequest")}},
        },
        "responses": {
            "200": _json(_ref("AttentionResponse"), "Pesos de atención."),
            **{str(c): _json(_ref("ErrorResponse"), ERROR_TEXT[c]) for c in sorted(errors)},
        },
    }
    if settings.api_key:
        op["security"] = [{"bearerAuth": []}]
    return op


def build_openapi(
    settings: Settings,
    chars: list[str] | None,
    model_ids: list[str] | None = None,
    block_size: int | None = None,
) -> dict[str, Any]:
    # El mapa de atención admite hasta MAX_ATTENTION_CHARS y nunca más que el block_size.
    cap = settings.max_attention_chars
    attention_chars = min(cap, block_size or cap)
    text = {
        "description": "Texto plano.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    html = {"description": "Página HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "llm-desde-cero",
            "version": "0.1.0",
            "description": "Genera texto carácter a carácter con el último checkpoint entrenado. "
            'Todos los errores tienen la forma {"error": {"code", "type", "message", '
            '"param"}} y mensajes en español.',
        },
        "paths": {
            "/generate": {
                "post": _generation_op(
                    "Generar texto",
                    "Misma semilla y ajustes, mismo texto (también en streaming). Con stream=true "
                    "responde text/event-stream: un evento por carácter (StreamChunk) y un "
                    "evento final 'done' con los mismos totales que la respuesta JSON.",
                    "GenerateRequest",
                    "GenerateResponse",
                    settings,
                )
            },
            "/v1/completions": {
                "post": _generation_op(
                    "Completions compatible con OpenAI",
                    "La API de completions de OpenAI: prompt (texto o lista), max_tokens, "
                    "temperature, top_p, seed, n, stream, stream_options, stop, logprobs y echo. "
                    "Los campos desconocidos se ignoran y se nombran en la cabecera "
                    "X-Ignored-Fields; suffix da 400. En streaming acaba con 'data: [DONE]'.",
                    "CompletionRequest",
                    "CompletionResponse",
                    settings,
                )
            },
            "/attention": {
                "post": _attention_op(settings),
            },
            "/v1/chat/completions": {
                "post": {
                    "summary": "No existe: un modelo base no chatea",
                    "description": "Responde siempre 404 (type 'unsupported') con la explicación: "
                    "el modelo se entrenó para continuar prosa y no tiene forma de chat. Usa "
                    "/v1/completions.",
                    "responses": {"404": _json(_ref("ErrorResponse"), "Siempre.")},
                }
            },
            "/v1/models": {
                "get": _get_op(
                    "Modelos disponibles (forma de OpenAI)",
                    "Cada checkpoint utilizable de CHECKPOINT_DIR, el más reciente primero. Su "
                    "'id' es lo que aceptan /generate, /v1/completions y /attention en 'model'.",
                    "ModelList",
                    settings,
                )
            },
            "/v1/models/{model_id}/metrics": {
                "get": {
                    **_get_op(
                        "Métricas de entrenamiento de un modelo",
                        "Los puntos del JSONL que escribe el entrenador junto al checkpoint "
                        "(step, train_loss, val_loss...); se releen en cada petición, así que "
                        "sirven para ver la curva mientras se entrena.",
                        "ModelMetrics",
                        settings,
                    ),
                    "parameters": [
                        {
                            "name": "model_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": model_ids}
                            if model_ids is not None
                            else {"type": "string"},
                        }
                    ],
                }
            },
            "/health": {
                "get": {
                    "summary": "Vivo",
                    "responses": {"200": _json(_ref("HealthResponse"), "El proceso responde.")},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Listo (hay un modelo cargado)",
                    "responses": {
                        "200": _json(_ref("ReadyResponse"), "Hay un modelo cargado."),
                        "503": _json(_ref("ErrorResponse"), ERROR_TEXT[503]),
                    },
                }
            },
            "/info": {
                "get": {
                    "summary": "Modelo, vocabulario y límites",
                    "responses": {"200": _json(_ref("InfoResponse"), "Información del servidor.")},
                }
            },
            "/metrics": {"get": {"summary": "Métricas Prometheus", "responses": {"200": text}}},
            "/openapi.json": {
                "get": {
                    "summary": "Este documento",
                    "responses": {"200": _json({"type": "object"}, "Documento OpenAPI.")},
                }
            },
            "/docs": {"get": {"summary": "Documentación legible", "responses": {"200": html}}},
            "/": {"get": {"summary": "Playground", "responses": {"200": html}}},
        },
        "components": {"schemas": _schemas(settings, chars, model_ids, attention_chars)},
    }
    if settings.api_key:
        doc["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    return doc

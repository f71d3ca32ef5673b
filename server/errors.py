"""Todos los errores HTTP del servidor, con una sola forma y en un solo sitio.

Cada error sale como::

    {"error": {"code": 422, "type": "validation_error", "message": "...", "param": "top_k"}}

``param`` es el campo culpable, o ``null`` si el error no es de un campo concreto. La forma
coincide con la de la API de OpenAI (``message``, ``type``, ``param``, ``code``), así que sus
clientes también entienden nuestros errores.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("server")

# El tipo de cada estado HTTP: se decide aquí y en ningún otro sitio.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_json",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "overloaded",
    431: "headers_too_large",
    500: "internal_error",
    502: "bad_gateway",
    503: "model_not_ready",
    505: "http_version_not_supported",
}

# Los tipos que no se deducen del estado: una petición bien formada que pide algo que este
# servidor no hace (un campo de OpenAI como ``suffix``, o /v1/chat/completions).
UNSUPPORTED = "unsupported"
ERROR_KINDS = (UNSUPPORTED,)

# Mensajes en español para los errores que produce el propio Werkzeug/Flask.
HTTP_MESSAGES: dict[int, str] = {
    400: "petición mal formada.",
    404: "no existe la ruta {path}. Consulta /docs para ver las rutas disponibles.",
    405: "el método {method} no está permitido en {path}; métodos válidos: {allowed}.",
    413: "el cuerpo de la petición supera el máximo de {limit} bytes.",
    500: "error interno del servidor; el servidor sigue funcionando, vuelve a intentarlo.",
}


class APIError(Exception):
    """Un error que se devuelve al cliente tal cual: estado, mensaje y campo culpable."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers or {}
        self._kind = kind  # otro tipo que el de su estado (ERROR_KINDS)

    @property
    def type(self) -> str:
        return self._kind or ERROR_TYPES.get(self.status, "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.status,
                "type": self.type,
                "message": self.message,
                "param": self.param,
            }
        }


def error_response(err: APIError) -> Response:
    resp = jsonify(err.to_dict())
    resp.status_code = err.status
    for key, value in err.headers.items():
        resp.headers[key] = value
    return resp


def from_http_exception(exc: HTTPException, max_body_bytes: int) -> APIError:
    """Traduce los errores de Werkzeug (404, 405, 413...) a nuestra forma."""
    status = exc.code or 500
    allowed = ""
    headers: dict[str, str] = {}
    if status == 405:
        allowed_methods = sorted(getattr(exc, "valid_methods", None) or [])
        allowed = ", ".join(allowed_methods)
        headers["Allow"] = allowed
    template = HTTP_MESSAGES.get(status, "error HTTP {status}.")
    message = template.format(
        path=request.path, method=request.method, allowed=allowed, limit=max_body_bytes,
        status=status,
    )  # fmt: skip
    return APIError(status, message, headers=headers)


def register_error_handlers(app: Flask, max_body_bytes: int) -> None:
    @app.errorhandler(APIError)
    def _api_error(err: APIError) -> Response:
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return error_response(from_http_exception(exc, max_body_bytes))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Lo inesperado se registra con traza, pero el cliente solo ve un mensaje limpio.
        log.exception("error inesperado atendiendo %s %s", request.method, request.path)
        return error_response(APIError(500, HTTP_MESSAGES[500]))

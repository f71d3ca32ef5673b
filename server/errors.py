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

from server.error_shape import ERROR_TYPES, HTTP_MESSAGES, error_body

log = logging.getLogger("server")

# Los tipos que no se deducen del estado: una petición bien formada que pide algo que este
# servidor no hace (un campo de OpenAI como ``suffix``, o /v1/chat/completions).
UNSUPPORTED = "unsupported"
ERROR_KINDS = (UNSUPPORTED,)


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
        return error_body(self.status, self.message, self.param, self._kind)


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

"""La forma de un error HTTP, sin Flask: la usan el servidor (server/errors.py) y la
configuración de nginx (server/proxy_conf.py), para que un 413 o un 503 de nginx se lea igual
que uno del servidor. La forma coincide con la de la API de OpenAI."""

from __future__ import annotations

from typing import Any

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

# Mensajes en español para los errores que produce el propio Werkzeug/Flask.
HTTP_MESSAGES: dict[int, str] = {
    400: "petición mal formada.",
    404: "no existe la ruta {path}. Consulta /docs para ver las rutas disponibles.",
    405: "el método {method} no está permitido en {path}; métodos válidos: {allowed}.",
    413: "el cuerpo de la petición supera el máximo de {limit} bytes.",
    500: "error interno del servidor; el servidor sigue funcionando, vuelve a intentarlo.",
}


def error_body(
    status: int, message: str, param: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """``{"error": {"code", "type", "message", "param"}}``; el tipo, el de su estado salvo que
    se diga otro (``kind``)."""
    kind = kind or ERROR_TYPES.get(status, "error")
    return {"error": {"code": status, "type": kind, "message": message, "param": param}}

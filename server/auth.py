"""Clave de API opcional para las rutas que generan texto.

Con API_KEY definida, lo que no exige la clave (/info, /openapi.json, /docs, /metrics...) no dice
rutas, nombres de fichero ni identificadores de modelos a quien no la envía (``authorized``):
solo /health y /ready responden igual a cualquiera."""

from __future__ import annotations

import hmac

from flask import request

from server.errors import APIError


def require_api_key(api_key: str) -> None:
    """Con API_KEY definida, exige ``Authorization: Bearer <clave>``; sin ella, no hace nada."""
    if not api_key:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="llm-desde-cero"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(
            401,
            "falta la clave de API: envía la cabecera 'Authorization: Bearer <clave>'.",
            headers=challenge,
        )
    # Comparación en tiempo constante (no revela cuántos caracteres coinciden), de bytes UTF-8.
    if not hmac.compare_digest(_header_bytes(token.strip()), api_key.encode("utf-8")):
        raise APIError(401, "la clave de API no es correcta.", headers=challenge)


def authorized(api_key: str) -> bool:
    """Si la petición puede ver lo reservado: sin API_KEY, siempre; con ella, si trae la clave."""
    try:
        require_api_key(api_key)
    except APIError:
        return False
    return True


def _header_bytes(value: str) -> bytes:
    """Los bytes que envió el cliente. WSGI entrega las cabeceras decodificadas como latin-1,
    así que una clave UTF-8 con «ñ» llega como «Ã±»: volver a latin-1 recupera sus bytes."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # no viene de un servidor WSGI (p. ej. una prueba en proceso)
        return value.encode("utf-8", errors="replace")

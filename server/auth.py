"""Clave de API opcional para las rutas que generan texto."""

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
    # Comparación en tiempo constante: no revela cuántos caracteres coinciden.
    if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise APIError(401, "la clave de API no es correcta.", headers=challenge)

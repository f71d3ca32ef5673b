"""La dirección del playground para abrir en esta máquina: la escriben el servidor al arrancar y
el entrenador al terminar."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dotenv import dotenv_values


def playground_url(env: Mapping[str, str | None] | None = None) -> str:
    """La dirección del playground con el HOST y el PORT del entorno o de ``.env``."""
    if env is None:
        env = {**dotenv_values(".env"), **os.environ}
    host = (env.get("HOST") or "").strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):  # «todas las interfaces»: desde aquí, esta máquina
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = (env.get("PORT") or "").strip() or "8000"
    return f"http://{host}:{port}/"

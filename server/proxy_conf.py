"""La configuración de nginx para ``docker compose up`` (servicio ``proxy``), a partir de los
mismos ajustes que lee el servidor (server/settings.py: ``CLIENT_TIMEOUT``, ``MAX_BODY_BYTES``,
``GUNICORN_TIMEOUT``), así que cada valor por defecto está escrito una sola vez.

    python -m server.proxy_conf docker/nginx.conf > /tmp/nginx/nginx.conf

La imagen del proxy lleva solo este módulo, server/settings.py y lo que importan (sin Flask ni
torch). ``UPSTREAM`` (``server:8000`` por defecto) es el servicio de compose detrás; el DNS es
el primer ``nameserver`` de /etc/resolv.conf (el del motor de contenedores).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from server.error_shape import HTTP_MESSAGES, error_body
from server.settings import Settings
from shared.common.errors import ConfigError

UNAVAILABLE = "ninguna réplica del servidor responde ahora; prueba de nuevo en unos segundos."


def nameserver(resolv_conf: str) -> str:
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            host = parts[1]
            return f"[{host}]" if ":" in host else host
    raise ConfigError("no hay ningún «nameserver» en /etc/resolv.conf: nginx no sabría resolver.")


def _nginx_string(body: dict) -> str:
    """Un JSON dentro de comillas simples de nginx (``return 413 '...'``)."""
    text = json.dumps(body, ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("'", "\\'")


def render(template: str, env: Mapping[str, str], resolv_conf: str) -> str:
    settings = Settings.from_env(env)
    upstream = env.get("UPSTREAM", "").strip() or "server:8000"
    if any(c.isspace() or c in ";{}'\"$" for c in upstream):
        raise ConfigError(f"UPSTREAM={upstream!r} no es un «host:puerto» válido.")
    too_large = HTTP_MESSAGES[413].format(limit=settings.max_body_bytes)
    values = {
        "CLIENT_TIMEOUT": str(math.ceil(settings.client_timeout)),
        "READ_TIMEOUT": str(settings.timeout),
        "MAX_BODY_BYTES": str(settings.max_body_bytes),
        "UPSTREAM": upstream,
        "RESOLVER": nameserver(resolv_conf),
        "BODY_413": _nginx_string(error_body(413, too_large)),
        "BODY_502": _nginx_string(error_body(502, UNAVAILABLE)),
    }
    out = template
    for key, value in values.items():
        out = out.replace("{{" + key + "}}", value)
    if "{{" in out:
        raise ConfigError("la plantilla de nginx tiene valores sin rellenar.")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("uso: python -m server.proxy_conf PLANTILLA", file=sys.stderr)
        return 2
    try:
        text = render(
            Path(args[0]).read_text(encoding="utf-8"),
            os.environ,
            Path("/etc/resolv.conf").read_text(encoding="utf-8"),
        )
    except ConfigError as exc:
        print(f"error de configuración: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m server``: arranca gunicorn con server/gunicorn.conf.py (nunca el servidor de
desarrollo de Flask). Los argumentos extra pasan tal cual a gunicorn."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

CONF = Path(__file__).with_name("gunicorn.conf.py")
# Variables que gunicorn lee por su cuenta al importarse, antes que server/gunicorn.conf.py
# (p. ej. ``int(os.environ.get("WEB_CONCURRENCY", 1))``). compose las pasa vacías cuando .env no
# las define, y vacía debe valer lo mismo que sin definir: se quitan del entorno de gunicorn.
GUNICORN_IMPORT_VARS = ("WEB_CONCURRENCY", "PORT", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS",
                        "SENDFILE")  # fmt: skip


USAGE = """uso: python -m server [opciones de gunicorn]

Arranca el servidor HTTP (gunicorn + Flask) con el último checkpoint de CHECKPOINT_DIR.
Se configura con variables de entorno o con un fichero .env en el directorio actual.
Después: http://HOST:PORT/ (playground), /docs (API), /health, /ready, /info, /metrics.
"""


def announce() -> None:
    """Dónde abrir el playground, antes de los registros de gunicorn (en inglés y técnicos)."""
    from server.settings import Settings, load_env_file
    from shared.errors import ConfigError

    load_env_file()
    try:
        s = Settings.from_env()
    except ConfigError:
        return  # gunicorn.conf.py lo explica y termina
    if s.port == 0:
        return  # puerto elegido por el sistema: lo dice gunicorn («Listening at»)
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "[::]") else s.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    url = f"http://{host}:{s.port}/"
    print(
        f"Playground: {url}   API: {url}docs   (sirve {s.checkpoint_dir}; Ctrl+C para parar)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        from server import settings

        print(USAGE)
        print(settings.__doc__)
        return
    announce()
    env = gunicorn_env(os.environ)
    # exec: gunicorn ocupa este mismo proceso, así las señales (Ctrl+C, docker stop) le llegan
    # directamente.
    os.execve(sys.executable, [sys.executable, "-m", "gunicorn", "-c", str(CONF), *args], env)


def gunicorn_env(environ: Mapping[str, str]) -> dict[str, str]:
    """El entorno para gunicorn: validado (error en español, no una traza de gunicorn) y sin
    las variables que gunicorn leería vacías."""
    from server.settings import Settings
    from shared.errors import ConfigError

    try:
        Settings.from_env(environ)
    except ConfigError as exc:
        sys.exit(f"error de configuración: {exc}")
    return {k: v for k, v in environ.items() if k not in GUNICORN_IMPORT_VARS or v.strip()}


if __name__ == "__main__":
    main()

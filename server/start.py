"""Arrancar el servidor (``python -m server``; server/__main__.py solo llama a ``main``).

Se validan los ajustes y gunicorn (con server/gunicorn.conf.py; nunca el servidor de desarrollo
de Flask) sustituye a este proceso: las señales (Ctrl+C, ``docker stop``) le llegan directamente.
Los argumentos extra pasan tal cual a gunicorn.

Por defecto escucha solo en 127.0.0.1: es el servidor de una persona. Para una clase en una red,
``docker compose up`` pone delante nginx, que lee cada petición entera con plazo (los clientes
lentos no ocupan hilos de gunicorn) y reparte entre las réplicas del servidor.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from server.settings import Settings, configure_logging, load_env_file
from shared.common.addresses import playground_url
from shared.common.errors import ConfigError

CONF = Path(__file__).with_name("gunicorn.conf.py")
# Variables que gunicorn lee por su cuenta al importarse, antes que server/gunicorn.conf.py
# (p. ej. ``int(os.environ.get("WEB_CONCURRENCY", 1))``). compose las pasa vacías cuando .env no
# las define, y vacía debe valer lo mismo que sin definir: se quitan del entorno de gunicorn.
GUNICORN_IMPORT_VARS = ("WEB_CONCURRENCY", "PORT", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS",
                        "SENDFILE")  # fmt: skip
# Lo pone la imagen del servidor: delante está nginx (compose.yaml), que es quien da la cara.
BEHIND_PROXY_ENV = "LLM_BEHIND_PROXY"

log = logging.getLogger("server.start")


def network_advice(settings: Settings, env: Mapping[str, str]) -> str | None:
    """La línea que se dice al escuchar fuera de loopback sin nginx delante."""
    if settings.local_only or env.get(BEHIND_PROXY_ENV, "").strip() == "1":
        return None
    return (
        f"aviso: escuchando en {settings.bind} sin nada delante; para una clase en una red, "
        "`docker compose up` (nginx delante del servidor, ver docs/docker.md)."
    )


def read_settings() -> Settings:
    """Los ajustes del entorno y de ``.env``; uno inválido termina con su error en español."""
    load_env_file()
    try:
        return Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"error de configuración: {exc}")


def run(settings: Settings, gunicorn_args: list[str]) -> NoReturn:
    """Se convierte en gunicorn, que vuelve a leer los mismos ajustes en gunicorn.conf.py."""
    configure_logging(log, settings.log_level)
    advice = network_advice(settings, os.environ)
    if advice:
        log.warning(advice)
    for name in GUNICORN_IMPORT_VARS:
        if not os.environ.get(name, "x").strip():
            del os.environ[name]
    argv = [sys.executable, "-m", "gunicorn", "-c", str(CONF), *gunicorn_args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


USAGE = """uso: python -m server [opciones de gunicorn]

Arranca el servidor HTTP (gunicorn + Flask) con el último checkpoint de CHECKPOINT_DIR.
Se configura con variables de entorno o con un fichero .env en el directorio actual.
Después: http://HOST:PORT/ (playground), /docs (API), /health, /ready, /info, /metrics.
"""


def announce(s: Settings) -> None:
    """Dónde abrir el playground, antes de los registros de gunicorn."""
    if s.port == 0:
        return  # puerto elegido por el sistema: lo dice gunicorn («escuchando en»)
    url = playground_url({"HOST": s.host, "PORT": str(s.port)})
    print(
        f"Playground: {url}   API: {url}docs   (sirve {s.checkpoint_dir}; Ctrl+C para parar)",
        flush=True,
    )


def check_gunicorn_args(args: list[str]) -> None:
    """Los argumentos extra son de gunicorn: se comprueban con su propio argparse antes de
    arrancar nada, para que un flag mal escrito dé un error en español y no el de gunicorn."""
    if not args:
        return
    # gunicorn.config lee WEB_CONCURRENCY como entero al importarse: vacía o mal escrita sería
    # una traza aquí. Ese valor lo valida después Settings, con su error en español.
    web_concurrency = os.environ.pop("WEB_CONCURRENCY", None)
    try:
        from gunicorn.config import Config
    finally:
        if web_concurrency is not None:
            os.environ["WEB_CONCURRENCY"] = web_concurrency

    from shared.common.argparse_es import usage_error

    parser = Config().parser()
    parser.error = lambda message: usage_error("python -m server", message)  # type: ignore[method-assign]
    parser.parse_args(args)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        from server.settings_doc import help_text

        print(USAGE)
        print(help_text())
        return
    check_gunicorn_args(args)
    settings = read_settings()
    announce(settings)
    run(settings, args)

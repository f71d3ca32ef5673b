"""``python -m server``: arranca el frente (server/front.py) y detrás gunicorn con
server/gunicorn.conf.py (nunca el servidor de desarrollo de Flask). Los argumentos extra pasan
tal cual a gunicorn. Cómo se reparten el trabajo: server/launcher.py."""

from __future__ import annotations

import os
import sys

USAGE = """uso: python -m server [opciones de gunicorn]

Arranca el servidor HTTP (gunicorn + Flask) con el último checkpoint de CHECKPOINT_DIR.
Se configura con variables de entorno o con un fichero .env en el directorio actual.
Después: http://HOST:PORT/ (playground), /docs (API), /health, /ready, /info, /metrics.
"""


def announce() -> None:
    """Dónde abrir el playground, antes de los registros de gunicorn (en inglés y técnicos)."""
    from server.settings import Settings, load_env_file
    from shared.common.errors import ConfigError

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
    announce()
    from server.launcher import run

    sys.exit(run(args))


if __name__ == "__main__":
    main()

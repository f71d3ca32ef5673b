"""``python -m server``: arranca el frente (server/front.py) y detrás gunicorn con
server/gunicorn.conf.py (nunca el servidor de desarrollo de Flask). Los argumentos extra pasan
tal cual a gunicorn. Cómo se reparten el trabajo: server/launcher.py."""

from __future__ import annotations

import sys

USAGE = """uso: python -m server [opciones de gunicorn]

Arranca el servidor HTTP (gunicorn + Flask) con el último checkpoint de CHECKPOINT_DIR.
Se configura con variables de entorno o con un fichero .env en el directorio actual.
Después: http://HOST:PORT/ (playground), /docs (API), /health, /ready, /info, /metrics.
"""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        from server import settings

        print(USAGE)
        print(settings.__doc__)
        return
    from server.launcher import run

    sys.exit(run(args))


if __name__ == "__main__":
    main()

"""``python -m server``: la única entrada del servidor; el arranque entero está en
server/start.py.

En Windows no hay servidor nativo: gunicorn (y el arranque de server/start.py) usa fcntl,
resource y señales POSIX que Windows no tiene. Allí se dice en una línea qué hacer y se sale
con 2 antes de importar nada de eso, en vez de una traza.
"""

import sys

WINDOWS_MESSAGE = (
    "error: el servidor (gunicorn) no funciona en Windows nativo; usa Docker Desktop "
    "(docker compose up) o WSL2 (los pasos de Linux tal cual): docs/windows.md"
)


def main() -> None:
    if sys.platform == "win32":
        print(WINDOWS_MESSAGE, file=sys.stderr)
        sys.exit(2)
    from server.start import main as start  # aquí y no arriba: en Windows no se puede importar

    start()


if __name__ == "__main__":
    main()

"""``python -m server``: la única entrada del servidor; el arranque entero está en
server/start.py."""

from server.start import main

if __name__ == "__main__":
    main()

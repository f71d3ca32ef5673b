"""El registro de gunicorn en español: sus mensajes de siempre (arrancar, escuchar, parar).

``gunicorn.conf.py`` lo elige con ``logger_class``. Solo se traducen los mensajes conocidos,
por su texto exacto; cualquier otro (un error nuevo, un aviso de otra versión) sale tal cual,
para que nada se esconda. El registro de accesos no cambia.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

# Formato de gunicorn → el mismo formato en español (los argumentos no cambian de orden).
MESSAGES = {
    "Starting gunicorn %s": "arranca gunicorn %s",
    "Listening at: %s (%s)": "escuchando en %s (pid %s)",
    "Listening at: %s": "escuchando en %s",
    "Using worker: %s": "workers de tipo %s",
    "Booting worker with pid: %s": "arranca un worker (pid %s)",
    "Worker exiting (pid: %s)": "termina el worker (pid %s)",
    "Handling signal: %s": "señal recibida: %s",
    "Shutting down: %s": "se apaga %s",
    "Hang up: %s": "SIGHUP: %s recarga la configuración y los workers",
    "graceful stop of workers": "parada ordenada de los workers",
    "Quick shutdown requested": "parada inmediata pedida",
    "Worker (pid:%s) was sent %s!": "el worker (pid %s) recibió %s",
    "Worker (pid:%s) exited with code %s.": "el worker (pid %s) terminó con el código %s",
    "Parent changed, shutting down: %s": "el proceso padre cambió; se apaga %s",
}
# Lo que gunicorn pasa como argumento de esos mensajes y también se lee.
WORDS = {"Master": "el proceso maestro"}


def translate(msg: object, args: tuple[Any, ...]) -> tuple[object, tuple[Any, ...]]:
    if not isinstance(msg, str) or msg not in MESSAGES:
        return msg, args
    return MESSAGES[msg], tuple(WORDS.get(a, a) if isinstance(a, str) else a for a in args)


class SpanishLogger(Logger):
    """El Logger de gunicorn con sus mensajes informativos y de error conocidos en español."""

    def critical(self, msg: object, *args: Any, **kwargs: Any) -> None:
        super().critical(*self._es(msg, args), **kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        super().error(*self._es(msg, args), **kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        super().warning(*self._es(msg, args), **kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        super().info(*self._es(msg, args), **kwargs)

    @staticmethod
    def _es(msg: object, args: tuple[Any, ...]) -> tuple[Any, ...]:
        text, new_args = translate(msg, args)
        return (text, *new_args)

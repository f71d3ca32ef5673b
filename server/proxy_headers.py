"""Las cabeceras que solo un proxy de confianza podría poner no llegan nunca a la aplicación.

``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``, ``Forwarded``... cambiarían
lo que la aplicación cree saber de la petición (de dónde viene, si es https, en qué host) y
cualquier cliente puede enviarlas. gunicorn.conf.py ya no deja que cambien ``SCRIPT_NAME`` ni el
esquema (``forwarder_headers`` y ``secure_scheme_headers`` vacíos); este envoltorio WSGI las
borra además del entorno, sirva quien sirva la aplicación. El registro de accesos de gunicorn
las sigue viendo (lee las cabeceras de la petición, no este entorno).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_PREFIXES = ("HTTP_X_FORWARDED_",)
_EXACT = frozenset(("HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_SCRIPT_NAME", "HTTP_PATH_INFO"))


def strip_proxy_headers(app: WSGIApp) -> WSGIApp:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in [k for k in environ if k in _EXACT or k.startswith(_PREFIXES)]:
            del environ[key]
        return app(environ, start_response)

    return wrapped

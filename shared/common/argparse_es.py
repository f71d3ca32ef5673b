"""argparse en español: ayuda y errores sin una palabra en inglés, para todas las CLIs
(entrenador, herramientas y servidor: por eso vive en shared/).

argparse escribe sus textos en inglés («usage:», «options:», «invalid int value»...). En lugar
de instalar un catálogo de gettext, este módulo cambia los pocos sitios donde aparecen: el
prefijo del uso, los títulos de las secciones, la ayuda de ``-h`` y los mensajes de error, que
se traducen con una tabla de patrones.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
from collections.abc import Callable
from typing import NoReturn

USAGE_PREFIX = "uso: "

# Mensajes de error de argparse (Python 3.11) → español. El primero que encaja gana.
_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^argument (?P<arg>.+?): (?P<rest>.*)$", re.S), "{arg}: {rest}"),
    (re.compile(r"^the following arguments are required: (?P<a>.*)$"), "falta indicar: {a}"),
    (re.compile(r"^unrecognized arguments: (?P<a>.*)$"), "opciones desconocidas: {a}"),
    (re.compile(r"^invalid (?P<t>\w+) value: (?P<v>.*)$"), "valor no válido {v}: se espera {t}"),
    (
        re.compile(r"^invalid choice: (?P<v>.*?) \(choose from (?P<c>.*)\)$"),
        "opción no válida {v}; elige entre {c}",
    ),
    (re.compile(r"^expected one argument$"), "falta su valor"),
    (re.compile(r"^expected at most one argument$"), "admite como mucho un valor"),
    (re.compile(r"^expected at least one argument$"), "necesita al menos un valor"),
    (re.compile(r"^expected (?P<n>\d+) arguments?$"), "necesita {n} valores"),
    (
        re.compile(r"^ambiguous option: (?P<o>\S+) could match (?P<m>.*)$"),
        "opción ambigua {o}: puede ser {m}",
    ),
    (re.compile(r"^not allowed with argument (?P<a>.*)$"), "no se puede usar junto con {a}"),
    (re.compile(r"^ignored explicit argument (?P<v>.*)$"), "no admite valor ({v})"),
    (re.compile(r"^one of the arguments (?P<a>.*) is required$"), "hace falta una de: {a}"),
]
_TYPE_NAMES = {"int": "un número entero", "float": "un número"}


def translate_error(message: str) -> str:
    """Traduce un mensaje de error de argparse; lo que no reconoce lo deja igual."""
    for pattern, template in _ERRORS:
        match = pattern.match(message)
        if match is None:
            continue
        parts = match.groupdict()
        if "rest" in parts:
            parts["rest"] = translate_error(parts["rest"])
        if "t" in parts:
            parts["t"] = _TYPE_NAMES.get(parts["t"], parts["t"])
        return template.format(**parts)
    return message


class SpanishHelpFormatter(argparse.HelpFormatter):
    """«uso:» en vez de «usage:», y sin partir las opciones por el guion (--max-\\nsteps)."""

    def add_usage(self, usage, actions, groups, prefix=None) -> None:  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, USAGE_PREFIX if prefix is None else prefix)

    def _split_lines(self, text: str, width: int) -> list[str]:
        text = " ".join(text.split())
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        text = " ".join(text.split())
        return textwrap.fill(
            text,
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=False,
        )


class SpanishDefaultsHelpFormatter(SpanishHelpFormatter):
    """Añade «(por defecto: X)» a la ayuda de cada opción que tenga un valor por defecto."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        if "%(default)" in help_text or "por defecto" in help_text:
            return help_text
        if default is None or default is False or default is argparse.SUPPRESS or default == "":
            return help_text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            help_text += " (por defecto: %(default)s)"
        return help_text


class SpanishArgumentParser(argparse.ArgumentParser):
    """Un ArgumentParser cuya ayuda y cuyos errores están en español.

    Los errores de uso salen como los del resto de la CLI («error: ...» en stderr) seguidos de
    la línea de uso, y terminan con el código 2, como en argparse.
    """

    def __init__(self, *args, add_help: bool = True, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", SpanishDefaultsHelpFormatter)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "argumentos"
        self._optionals.title = "opciones"
        if add_help:
            self.add_argument(
                "-h", "--help", action="help", default=argparse.SUPPRESS, help="muestra esta ayuda"
            )

    def add_argument(self, *args, **kwargs) -> argparse.Action:  # type: ignore[no-untyped-def]
        # Sin metavar, argparse usa el nombre en mayúsculas (MAX_STEPS): aquí, uno en español.
        takes_value = kwargs.get("action") in (None, "store") and "choices" not in kwargs
        if takes_value and "metavar" not in kwargs and args and args[0].startswith("-"):
            kind = kwargs.get("type")
            kwargs["metavar"] = "N" if kind is int else "X" if kind is not None else "VALOR"
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        usage_error(self.prog, message)


def usage_error(prog: str, message: str) -> NoReturn:
    """Como los demás errores de las CLIs: una línea «error: ...» en español, sin volcar el uso
    entero, y el código 2 de argparse. Sirve también para el argparse de otro (gunicorn)."""
    sys.stderr.write(f"error: {translate_error(message)}\nAyuda: {prog} --help\n")
    sys.exit(2)


def finite_float(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """Tipo de argparse: un número finito (ni nan ni inf), opcionalmente dentro de [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"'{text}' no es un número (usa punto decimal: 0.5)"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' no vale: hace falta un número finito")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{text} es demasiado pequeño (mínimo {low:g})")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} es demasiado grande (máximo {high:g})")
        return value

    parse.__name__ = "número"
    return parse

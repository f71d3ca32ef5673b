"""``python -m trainer.options_doc`` (``make docs-tables``): la tabla de opciones de
docs/entrenar.md, generada desde la declaración de ``TrainSettings``.

La tabla vive entre dos marcas en el documento; este módulo reescribe solo lo que hay entre ellas.
Con ``--check`` no escribe nada: termina con código 1 si la tabla no está al día (lo usa
tests/test_settings_sources.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.common.argparse_es import SpanishArgumentParser
from trainer.settings import settings_fields, shown_default, value_type

DOC = Path(__file__).resolve().parent.parent / "docs" / "entrenar.md"
BEGIN = "<!-- generado por `make docs-tables` desde trainer/settings.py: no editar a mano -->"
END = "<!-- fin de lo generado -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """Una fila por ajuste: flag, variable de make/.env/Docker, valor por defecto y ayuda."""
    lines = [
        "| opción | variable (make, .env, Docker) | por defecto | qué hace |",
        "|---|---|---|---|",
    ]
    for f, opt in settings_fields():
        flag = opt.flag(f.name)
        if opt.const is not None:
            flag += f" [{opt.metavar}]"
        elif opt.choices is not None:
            flag += " " + "\\|".join(opt.choices)
        elif value_type(f) is not bool:  # los mismos metavar que --help
            flag += f" {opt.metavar or ('N' if value_type(f) is int else 'X')}"
        env = f"`{opt.env}`" if opt.env else "—"
        shown = shown_default(f, opt)
        default = f"`{_cell(shown)}`" if shown is not None else "—"
        note = " Se puede cambiar al reanudar." if opt.resumable else ""
        lines.append(f"| `{flag}` | {env} | {default} | {_cell(opt.help)}.{note} |")
    return "\n".join(lines)


def render(document: str) -> str:
    """El documento con la tabla de ahora entre las marcas (ValueError si faltan)."""
    try:
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"faltan las marcas de la tabla generada en {DOC}") from None
    return f"{head}{BEGIN}\n{markdown_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = SpanishArgumentParser(
        prog="python -m trainer.options_doc",
        description="Regenera la tabla de opciones del entrenador en docs/entrenar.md.",
    )
    p.add_argument(
        "--check", action="store_true", help="no escribir: código 1 si la tabla no está al día"
    )
    args = p.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    try:
        wanted = render(current)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if wanted != current:
            print(
                f"error: la tabla de opciones de {DOC.name} no está al día: make docs-tables",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted, encoding="utf-8")
        print(f"{DOC} actualizado.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Lo que se escribe a partir de ``server.settings.VARIABLES``: la ayuda de ``python -m server
--help``, la tabla de docs/servidor.md y la sección del servidor de ``.env.example``.

``python -m server.settings_doc`` (``make docs-tables``) reescribe las dos partes generadas
de esos ficheros, entre sus marcas; tests/server/test_server_settings_doc.py comprueba que están
al día, así que una variable nueva no puede quedarse sin documentar.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from server.settings import VARIABLES, Var

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "servidor.md"
ENV_EXAMPLE = ROOT / ".env.example"
SOURCE = "generado por make docs-tables desde server/settings.py: no editar a mano"
DOC_MARKERS = (f"<!-- {SOURCE} -->", "<!-- fin de lo generado -->")
ENV_MARKERS = (f"# >>> {SOURCE}", "# <<< fin de lo generado")


def _plain(text: str) -> str:
    """Sin las comillas invertidas de Markdown (para la terminal y para .env)."""
    return text.replace("`", "")


def help_text() -> str:
    """Las variables para ``python -m server --help``: nombre, valor por defecto y ayuda."""
    lines = [
        "Variables de entorno (o de un .env en el directorio actual; el entorno gana). Vacía =",
        "sin definir: rige el valor por defecto.",
        "",
    ]
    for var in VARIABLES:
        default = var.default_text or "(vacía)"
        lines.append(f"  {var.name} (por defecto: {default})")
        lines += textwrap.wrap(
            _plain(var.help), 92, initial_indent=" " * 6, subsequent_indent=" " * 6
        )
    return "\n".join(lines)


def _doc_default(var: Var) -> str:
    if not var.default_text:
        return "(vacía)"
    return f"`{var.default_text}`" if var.literal or "$" in var.default_text else var.default_text


def markdown_table() -> str:
    rows = [
        "| Variable | Por defecto | Qué hace |",
        "|---|---|---|",
        *(f"| `{v.name}` | {_doc_default(v)} | {v.help} |" for v in VARIABLES),
    ]
    return "\n".join(rows)


def _comment(text: str) -> list[str]:
    return textwrap.wrap(_plain(text), 94, initial_indent="# ", subsequent_indent="# ")


def env_example_block() -> str:
    """La sección del servidor de .env.example: ayuda como comentario y ``# NOMBRE=valor``.

    Las que también lee el entrenador ya se explican en su sección: aquí solo se recuerda que el
    servidor las lee, y con qué valor por defecto."""
    lines: list[str] = []
    for var in VARIABLES:
        if var.trainer:
            continue
        help_ = var.help if var.literal else f"{var.help} Vacía: {var.default_text}."
        lines += _comment(help_)
        lines.append(f"# {var.name}={var.default_text if var.literal else ''}")
    shared = [v for v in VARIABLES if v.trainer]
    lines += _comment(
        "El servidor también lee "
        + ", ".join(v.name for v in shared)
        + " (ver la sección de entrenamiento). Por defecto, en el servidor: "
        + ", ".join(f"{v.name}={v.default_text}" for v in shared)
        + "."
    )
    return "\n".join(lines)


def replace_between(text: str, markers: tuple[str, str], block: str, where: str) -> str:
    """``text`` con lo que hay entre las dos marcas sustituido por ``block``."""
    start, end = markers
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{where}: faltan las marcas «{start}» … «{end}» (una de cada).")
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{start}\n{block}\n{end}{tail}"


def generated_files() -> dict[Path, str]:
    """Cada fichero con su parte generada al día."""
    doc = DOC.read_text(encoding="utf-8")
    env = ENV_EXAMPLE.read_text(encoding="utf-8")
    return {
        DOC: replace_between(doc, DOC_MARKERS, markdown_table(), str(DOC)),
        ENV_EXAMPLE: replace_between(env, ENV_MARKERS, env_example_block(), str(ENV_EXAMPLE)),
    }


def main() -> int:
    for path, text in generated_files().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"actualizado: {path.relative_to(ROOT)}")
        else:
            print(f"ya estaba al día: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

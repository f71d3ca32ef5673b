"""Genera el cuaderno de la clase, docs/cuaderno/clase.ipynb, de sus dos fuentes (make notebook).

- El código y el texto propio del cuaderno: docs/cuaderno/clase.py, en el formato «percent» de
  jupytext (un .py normal: se lee, se revisa con ruff y se compara en git como cualquier otro).
- El texto que comparte con docs/aprender.md: está solo allí, entre
  ``<!-- cuaderno: NOMBRE -->`` y ``<!-- /cuaderno -->``. En clase.py, una línea
  ``<!-- aprender: NOMBRE -->`` de una celda de texto dice dónde va.

Así el texto no puede divergir: cambiarlo en aprender.md y no regenerar el cuaderno hace fallar
``--check`` (tests/test_notebook.py). Un nombre que falte en un lado, o que sobre, es un error.
El .ipynb se guarda sin salidas y con ids de celda fijos: generarlo dos veces da lo mismo.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "cuaderno" / "clase.py"
LESSON = ROOT / "docs" / "aprender.md"
NOTEBOOK = ROOT / "docs" / "cuaderno" / "clase.ipynb"
FRAGMENT_RE = re.compile(r"^<!-- cuaderno: ([\w-]+) -->\n(.*?)\n<!-- /cuaderno -->$", re.M | re.S)
PLACE_RE = re.compile(r"^<!-- aprender: ([\w-]+) -->$", re.M)


class NotebookSourceError(Exception):
    """Las dos fuentes no encajan (un fragmento que falta o que sobra)."""


def fragments(lesson: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, body in FRAGMENT_RE.findall(lesson):
        if name in found:
            raise NotebookSourceError(f"el fragmento '{name}' está dos veces en {LESSON.name}")
        found[name] = body.strip()
    return found


def build(source: Path = SOURCE, lesson: Path = LESSON) -> nbformat.NotebookNode:
    """El cuaderno: las celdas de ``source`` con los fragmentos de ``lesson`` en su sitio."""
    shared = fragments(lesson.read_text(encoding="utf-8"))
    used: set[str] = set()

    def place(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in shared:
            raise NotebookSourceError(
                f"{source.name} pide el fragmento '{name}', que no está en {lesson.name}"
            )
        used.add(name)
        return shared[name]

    nb = jupytext.read(source, fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = PLACE_RE.sub(place, cell.source)
        cell.id = f"celda-{i:02d}"  # fijos: el fichero generado no cambia de una vez a otra
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    unused = sorted(set(shared) - used)
    if unused:
        raise NotebookSourceError(
            f"{lesson.name} marca para el cuaderno {', '.join(unused)}, que {source.name} no usa"
        )
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = {"name": "python"}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="solo comprueba que está al día")
    args = parser.parse_args()
    try:
        text = render(build())
    except NotebookSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rel = NOTEBOOK.relative_to(ROOT)
    if args.check:
        if not NOTEBOOK.is_file() or NOTEBOOK.read_text(encoding="utf-8") != text:
            print(f"error: {rel} no está al día; regenéralo con make notebook", file=sys.stderr)
            return 1
        print(f"{rel} está al día.")
        return 0
    NOTEBOOK.write_text(text, encoding="utf-8")
    print(f"Escrito {rel} ({len(text.splitlines())} líneas).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

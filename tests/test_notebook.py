"""El cuaderno de la clase (docs/cuaderno/clase.ipynb): al día con sus fuentes, y que corre.

La ejecución va aparte (``make test-notebook``, marca ``notebook``): entrena el bigrama y el GPT
de la comparación rápida en un núcleo de Jupyter de verdad (ipykernel, con nbclient), un par de
minutos de CPU. Falla con cualquier error de una celda o si una celda de figura (etiqueta
``figura``) no deja una imagen PNG.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

from tests.helpers.cli import ROOT

spec = importlib.util.spec_from_file_location("build_notebook", ROOT / "scripts/build_notebook.py")
assert spec is not None and spec.loader is not None
build_notebook = importlib.util.module_from_spec(spec)
sys.modules["build_notebook"] = build_notebook
spec.loader.exec_module(build_notebook)

NOTEBOOK = ROOT / "docs" / "cuaderno" / "clase.ipynb"
LESSON_STEPS = ("## 1. Caracteres", "## 2. El bigrama", "## 3. Atención", "## 4. El mini GPT",
                "## 5. Muestreo: temperatura y top-k")  # fmt: skip


def test_the_notebook_is_generated_from_its_two_sources() -> None:
    assert NOTEBOOK.read_text(encoding="utf-8") == build_notebook.render(build_notebook.build())


def test_the_shared_text_comes_from_aprender_md() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    lesson = (ROOT / "docs" / "aprender.md").read_text(encoding="utf-8")
    for name, body in build_notebook.fragments(lesson).items():
        assert body in text, name
    positions = [text.index(step) for step in LESSON_STEPS]  # los cinco pasos, en orden
    assert positions == sorted(positions)


def test_a_fragment_missing_on_either_side_is_an_error(tmp_path: Path) -> None:
    lesson = tmp_path / "aprender.md"
    source = tmp_path / "clase.py"
    source.write_text("# %% [markdown]\n# <!-- aprender: uno -->\n", encoding="utf-8")
    lesson.write_text("<!-- cuaderno: otro -->\nTexto.\n<!-- /cuaderno -->\n", encoding="utf-8")
    with pytest.raises(build_notebook.NotebookSourceError, match="uno"):
        build_notebook.build(source, lesson)
    lesson.write_text(
        "<!-- cuaderno: uno -->\nTexto.\n<!-- /cuaderno -->\n"
        "<!-- cuaderno: otro -->\nMás.\n<!-- /cuaderno -->\n",
        encoding="utf-8",
    )
    with pytest.raises(build_notebook.NotebookSourceError, match="otro"):
        build_notebook.build(source, lesson)


@pytest.mark.notebook
def test_the_notebook_runs_top_to_bottom_with_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    # El núcleo hereda el entorno: un hilo (máquina compartida) y el proyecto de esta carpeta.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # CellExecutionError con la traza de la celda que falle

    nbformat.write(nb, tmp_path / "ejecutado.ipynb")  # para mirarlo si algo falla
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    figures = [c for c in code if "figura" in c.metadata.get("tags", [])]
    assert len(figures) == 5
    for cell in figures:
        pngs = [
            o
            for o in cell.outputs
            if o.output_type in ("display_data", "execute_result") and "image/png" in o.data
        ]
        assert pngs, f"la celda de figura no dibujó nada:\n{cell.source}"
    # En la carpeta del proyecto, la primera celda no instala nada.
    setup = "".join(o.get("text", "") for o in code[0].outputs)
    assert "Instalando" not in setup and f"Proyecto: {ROOT}" in setup
    assert (ROOT / "build" / "cuaderno" / "gpt.pt").is_file()


def test_readme_opens_this_notebook_in_colab_from_the_same_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    link = re.search(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/(\S+?)>",
                     readme)  # fmt: skip
    assert link, "el README no tiene la línea de Colab"
    assert ROOT / link.group(2) == NOTEBOOK
    source = (ROOT / "docs" / "cuaderno" / "clase.py").read_text(encoding="utf-8")
    repo_url = re.search(r'^REPO_URL = "https://github\.com/([\w.-]+/[\w.-]+)"', source, re.M)
    assert repo_url and repo_url.group(1) == link.group(1)

"""``pip install .`` de verdad (no editable): la rueda funciona fuera de la carpeta del proyecto.

Construye la rueda, la instala sin dependencias en un entorno nuevo fuera del repositorio (las
dependencias ya instaladas llegan por un .pth que apunta a las de este entorno: nada que bajar, y
sin el buscador del modo editable, que solo se activa en los site-packages de verdad) y, con el
directorio de trabajo fuera del repositorio, entrena, genera, abre la comparación y sirve el
playground. Una rueda sin un subpaquete o sin los ficheros estáticos falla aquí.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests

from bench.server_process import ServerProcess, server_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(python del entorno con la rueda instalada, carpeta de trabajo fuera del repo, rueda)."""
    base = tmp_path_factory.mktemp("rueda")
    # Una copia de lo que git ve (sin build/ ni *.egg-info de otras construcciones, que podrían
    # tapar un fichero que falta en la rueda).
    source = base / "fuente"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = base / "dist"
    # Sin aislamiento: setuptools ya está en este entorno (sin red para el backend).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(source)],
        check=True, cwd=base,
    )  # fmt: skip
    (wheel,) = dist.glob("llm_desde_cero-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    with zipfile.ZipFile(wheel) as zf:  # instalar una rueda es descomprimirla en site-packages
        zf.extractall(site)
    work = base / "trabajo"
    work.mkdir()
    (work / "texto.txt").write_text(
        (ROOT / "data" / "tiny_spanish.txt").read_text(encoding="utf-8")[:20000], encoding="utf-8"
    )
    return python, work, wheel


def run(python: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in server_env().items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(python), *args], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_wheel_carries_every_subpackage_the_playground_and_the_license(installed):
    *_, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [p.parent for top in ("shared", "trainer", "server")
                for p in (ROOT / top).rglob("__init__.py")]  # fmt: skip
    assert len(packages) > 3
    for package in packages:
        assert f"{package.relative_to(ROOT).as_posix()}/__init__.py" in names, package
    for static in (ROOT / "server" / "static").iterdir():
        assert f"server/static/{static.name}" in names, static.name
    assert "server/templates/docs.html" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "sin LICENSE"


def test_installed_package_imports_from_site_packages(installed):
    python, work, _ = installed
    out = run(python, work, "-c", "import shared, server, trainer.compare, shared.engine.batch; "
              "print(shared.__file__); print(server.__file__)")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert str(ROOT) not in out.stdout and "site-packages" in out.stdout


def test_train_generate_and_compare_from_the_wheel(installed):
    python, work, _ = installed
    train = run(python, work, "-m", "trainer", "--data", "texto.txt", "--max-steps", "4",
                "--eval-interval", "2", "--eval-iters", "2", "--n-embd", "16", "--n-head", "2",
                "--n-layer", "1", "--block-size", "16", "--batch-size", "4", "--no-progress",
                "--checkpoint-dir", "ck", "--run-name", "rueda", "--device", "cpu")  # fmt: skip
    assert train.returncode == 0, train.stdout + train.stderr
    assert (work / "ck" / "rueda.pt").exists()
    gen = run(python, work, "-m", "trainer.generate", "--ckpt", "ck", "--prompt", "El",
              "--max-new-tokens", "20", "--seed", "1")  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.strip().startswith("El")
    compare = run(python, work, "-m", "trainer.compare", "--help")
    assert compare.returncode == 0 and "--quick" in compare.stdout, compare.stderr


def test_server_from_the_wheel_serves_the_playground(installed, tmp_path):
    python, work, _ = installed
    (work / "vacio").mkdir(exist_ok=True)
    with ServerProcess(work / "servidor", CHECKPOINT_DIR=str(work / "vacio")).start(
        command=[str(python), "-m", "server"]
    ) as srv:
        page = requests.get(srv.url("/"), timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        for static in ("/static/playground.js", "/static/playground.css"):
            assert requests.get(srv.url(static), timeout=10).status_code == 200, static
        assert requests.get(srv.url("/health"), timeout=10).status_code == 200
    assert os.path.exists(work / "servidor" / "server.log")

"""La instalación: qué Python elige `make install`, de dónde trae torch y qué instala cada objetivo.

Todo corre de verdad (el script de shell, el de Python con el pip del entorno, make -n), sin red:
los Python y el nvidia-smi son programas falsos en un PATH propio (aquí no hay GPU ni todas las
versiones de Python en el PATH), la rueda "local" es una rueda mínima hecha en la prueba y el
"índice CPU de PyTorch" es un servidor HTTP en loopback.
"""

from __future__ import annotations

import http.server
import os
import platform
import re
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
FIND_PYTHON = ROOT / "scripts" / "find-python.sh"
INSTALL_TORCH = ROOT / "scripts" / "install_torch.py"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def fake_python(bindir: Path, name: str, version: str, venv: bool = True) -> None:
    """Un "python" que contesta a las preguntas de find-python.sh como lo haría uno real."""
    script = f"""#!/bin/sh
case "$2" in
  *ensurepip*) exit {0 if venv else 1} ;;
  *executable*) echo {bindir / name} ;;
  *version_info*) echo {version} ;;
  *) exit 2 ;;
esac
"""
    path = bindir / name
    path.write_text(script)
    path.chmod(0o755)


def find_python(bindir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bindir), "HOME": str(bindir), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        ["/bin/sh", str(FIND_PYTHON), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_supported_range_matches_requires_python() -> None:
    text = FIND_PYTHON.read_text()
    low = int(re.search(r"^MIN_MINOR=(\d+)$", text, re.M).group(1))
    high = int(re.search(r"^MAX_MINOR=(\d+)$", text, re.M).group(1))
    spec = SpecifierSet(PROJECT["requires-python"])
    for minor in range(8, 20):
        assert (f"3.{minor}" in spec) == (low <= minor <= high), f"3.{minor} y {spec}"
    assert (low, high) == (11, 13)  # lo que promete el README


def test_python3_is_preferred_when_supported(tmp_path: Path) -> None:
    fake_python(tmp_path, "python3", "3.12")
    fake_python(tmp_path, "python3.13", "3.13")
    out = find_python(tmp_path)
    assert (out.returncode, out.stdout.strip()) == (0, "python3"), out.stderr


def test_a_versioned_python_is_found_when_python3_is_too_old(tmp_path: Path) -> None:
    fake_python(tmp_path, "python3", "3.10")  # Ubuntu 22.04 con python3.12 de otro repositorio
    fake_python(tmp_path, "python3.12", "3.12")
    out = find_python(tmp_path)
    assert (out.returncode, out.stdout.strip()) == (0, "python3.12"), out.stderr


def test_no_supported_python_says_what_is_needed(tmp_path: Path) -> None:
    fake_python(tmp_path, "python3", "3.10")
    fake_python(tmp_path, "python3.14", "3.14")  # no se busca: fuera del rango probado
    out = find_python(tmp_path)
    assert out.returncode == 1 and out.stdout == ""
    assert "necesita Python 3.11, 3.12 o 3.13" in out.stderr
    assert "python3 (3.10)" in out.stderr and "PYTHON=" in out.stderr


def test_a_python_without_venv_names_the_debian_package(tmp_path: Path) -> None:
    fake_python(tmp_path, "python3", "3.12", venv=False)
    out = find_python(tmp_path)
    assert out.returncode == 1
    assert "python3.12-venv" in out.stderr


@pytest.mark.parametrize(
    ("version", "ok", "message"),
    [("3.13", True, ""), ("3.10", False, "es Python 3.10"), ("3.14", False, "es Python 3.14")],
)
def test_python_given_by_the_user_is_checked(
    tmp_path: Path, version: str, ok: bool, message: str
) -> None:
    fake_python(tmp_path, "mipython", version)
    out = find_python(tmp_path, "mipython")
    assert (out.returncode == 0) == ok, out.stderr
    assert message in out.stderr
    assert out.stdout.strip() == ("mipython" if ok else "")


def test_missing_python_given_by_the_user(tmp_path: Path) -> None:
    out = find_python(tmp_path, "python3.99")
    assert out.returncode == 1 and "PYTHON=python3.99: no encuentro ese programa" in out.stderr


def test_all_lists_one_interpreter_per_supported_version(tmp_path: Path) -> None:
    fake_python(tmp_path, "python3.11", "3.11")
    fake_python(tmp_path, "python3.12", "3.12", venv=False)  # sin venv no sirve para probar
    fake_python(tmp_path, "python3.13", "3.13")
    fake_python(tmp_path, "python3", "3.13")  # repetida: una vez basta
    out = find_python(tmp_path, "--all")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / "python3.11"), str(tmp_path / "python3.13")]


# --- de dónde viene torch ----------------------------------------------------------------

TORCH_VERSION = next(d.split("==")[1] for d in PROJECT["dependencies"] if d.startswith("torch=="))
linux_only = pytest.mark.skipif(
    platform.system() != "Linux", reason="fuera de Linux siempre es PyPI (ruedas solo CPU)"
)


def torch_plan(bindir: Path, cpu_index: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """install_torch.py --dry-run con un pip sin configuración (ni find-links ni índices)."""
    env = {
        "PATH": str(bindir),
        "HOME": str(bindir),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "LC_ALL": "C.UTF-8",
        **extra,
    }
    cmd = [sys.executable, str(INSTALL_TORCH), "--dry-run", "--cpu-index", cpu_index]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def fake_nvidia_smi(bindir: Path, listing: str, code: int = 0) -> None:
    path = bindir / "nvidia-smi"
    path.write_text(f"#!/bin/sh\necho '{listing}'\nexit {code}\n")
    path.chmod(0o755)


@pytest.fixture()
def cpu_index() -> Iterator[str]:
    """Un "índice CPU de PyTorch" en loopback que tiene la página /torch/."""

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (nombre de la API de http.server)
            found = self.path.rstrip("/").endswith("/torch")
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(b"<a href='torch-x.whl'>torch</a>" if found else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"  # ya nadie escucha ahí


def tiny_cpu_wheel(folder: Path) -> Path:
    """Una rueda torch X+cpu mínima (solo metadatos): lo que pip mira para decidir."""
    name = f"torch-{TORCH_VERSION}+cpu"
    info = f"{name}.dist-info"
    path = folder / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("torch/__init__.py", "")
        meta = f"Metadata-Version: 2.1\nName: torch\nVersion: {TORCH_VERSION}+cpu\n"
        whl.writestr(f"{info}/METADATA", meta)
        tags = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        whl.writestr(f"{info}/WHEEL", tags)
        whl.writestr(f"{info}/RECORD", "")
    return path


def test_torch_index_url_wins_without_probing(tmp_path: Path) -> None:
    fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA H200 (UUID: GPU-1)")
    out = torch_plan(tmp_path, closed_port_url(), TORCH_INDEX_URL="https://example.org/whl/cu128")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("custom:")
    wanted = f"--index-url https://example.org/whl/cu128 --no-deps torch=={TORCH_VERSION}"
    assert wanted in out.stdout


@linux_only
def test_nvidia_gpu_takes_the_cuda_build_from_pypi(tmp_path: Path) -> None:
    fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA H200 (UUID: GPU-1)")
    out = torch_plan(tmp_path, closed_port_url())
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("pypi:") and "GPU NVIDIA" in out.stdout
    assert f"pip install --no-deps torch=={TORCH_VERSION}\n" in out.stdout


@linux_only
def test_cpu_index_when_there_is_no_gpu(tmp_path: Path, cpu_index: str) -> None:
    # Un nvidia-smi sin controlador cargado (falla) no cuenta como GPU.
    fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed because it couldn't communicate", code=9)
    out = torch_plan(tmp_path, cpu_index)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("cpu-index:")
    assert f"--index-url {cpu_index} --no-deps torch=={TORCH_VERSION}\n" in out.stdout


@linux_only
def test_a_local_cpu_wheel_needs_no_network(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tiny_cpu_wheel(wheels)
    out = torch_plan(tmp_path, closed_port_url(), PIP_FIND_LINKS=str(wheels))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("local:")
    assert f"--no-index --no-deps torch=={TORCH_VERSION}+cpu\n" in out.stdout


@linux_only
def test_no_cpu_source_stops_instead_of_pulling_cuda(tmp_path: Path) -> None:
    out = torch_plan(tmp_path, closed_port_url())
    assert out.returncode == 1
    assert out.stdout.startswith("none:")
    assert "TORCH_INDEX_URL=https://pypi.org/simple" in out.stdout


# --- qué instala cada objetivo (make -n: lo que haría, sin hacerlo) ------------------------


def make_plan(target: str, tmp_path: Path) -> str:
    venv = tmp_path / "venv"
    cmd = ["make", "-n", target, f"VENV={venv}", "MAX_STEPS=1"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("target", ["install", "train", "generate", "serve"])
def test_runtime_targets_install_only_the_runtime_set(target: str, tmp_path: Path) -> None:
    plan = make_plan(target, tmp_path)
    assert "scripts/find-python.sh" in plan and "scripts/install_torch.py" in plan
    # Todo desde el bloqueo con hashes de train + serve, y el proyecto sin dependencias.
    assert "--require-hashes --no-deps -r requirements/local.txt" in plan
    assert "--no-deps -e ." in plan
    assert "requirements/dev.txt" not in plan


@pytest.mark.parametrize("target", ["test", "lint"])
def test_test_targets_add_the_dev_set(target: str, tmp_path: Path) -> None:
    plan = make_plan(target, tmp_path)
    assert plan.index("scripts/install_torch.py") < plan.index("-r requirements/dev.txt")


def top_level_env() -> dict[str, str]:
    """El entorno de quien escribe ``make install`` en su terminal: bajo ``make test``, MAKELEVEL
    y MAKEFLAGS harían de este make un sub-make («make[1]: Entering directory...»)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**env, "LC_ALL": "C"}


@pytest.mark.parametrize("target", ["install", "install-dev"])
def test_install_when_installed_says_so_in_spanish(target: str, tmp_path: Path) -> None:
    """Con todo instalado (las marcas, más nuevas que los bloqueos), make no dice «Nothing to be
    done for 'install'» sino una línea en español."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed-runtime").touch()
    (venv / ".installed-dev").touch()
    out = subprocess.run(
        ["make", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=top_level_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Nothing to be done" not in out.stdout + out.stderr
    assert out.stdout.startswith(f"{venv} tiene "), out.stdout

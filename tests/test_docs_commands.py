"""Las órdenes de README.md y docs/aprender.md, tal como están escritas, en un clon nuevo.

Una persona que sigue la documentación al pie de la letra: ``git clone`` del repositorio, y cada
orden de los bloques ```bash de README.md y después de docs/aprender.md, en orden, en la carpeta
del clon (su ``.venv`` lo crea la primera orden que lo necesita, como en una máquina nueva).
Cada orden debe terminar con 0, sin traza de Python, y decir lo que la documentación dice que
dice («Salida medida: `...`» justo después del bloque).

Solo se fija, por el entorno, lo que no cambia lo que se prueba: un puerto libre para
``make serve`` y entrenamientos cortos (``MAX_STEPS`` para make train, ``COMPARE_ARGS`` para
make figures y make compare), para que todo quepa en unos 10 minutos con 2 núcleos; las órdenes
son las mismas con 40 pasos que con 2000.

Un bloque o una orden que no se ejecuta aquí lo dice un comentario HTML justo encima del bloque
(«make test-docs (tests/test_docs_commands.py) no ejecuta ...»); ``SKIPPED`` lleva la lista, para
que no crezca sin que se vea. Va aparte de ``make test``: ``make test-docs`` (marca ``docs``).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.server_process import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/aprender.md")
SKIP_NOTE = "make test-docs (tests/test_docs_commands.py) no ejecuta"
# Lo que no se ejecuta aquí: make test lo ejecuta .ci/run justo antes (y dentro de una prueba
# sería la suite entera otra vez); el bloque de Docker lo prueba make test-docker.
SKIPPED = {
    "make test",
    "docker compose up -d",
    "make smoke",
    "curl -s http://127.0.0.1:8000/generate -H 'Content-Type: application/json' -d "
    '\'{"prompt": "Había una vez", "max_new_tokens": 200}\'',
}
# Pasos cortos: las mismas órdenes, menos minutos (ver el docstring).
SHORT_RUN = {"MAX_STEPS": "40", "COMPARE_ARGS": "--max-steps 40 --sample-chars 40"}
# Las variables que leen make, el entrenador o el servidor: fuera, que cuente solo lo escrito.
KNOBS = re.compile(
    r"^(MODEL|DATA|MAX_STEPS|DEVICE|CHECKPOINT_DIR|N_EMBD|N_HEAD|N_LAYER|BATCH_SIZE|BLOCK_SIZE"
    r"|SEED|TRAIN_ARGS|PROMPT|GEN_TOKENS|TEMPERATURE|TOP_K|GEN_SEED|COMPARE_\w+|QUICK|HOST|PORT"
    r"|API_KEY|VENV|PY|PYTHON|VIRTUAL_ENV|LLM_\w+|PYTHONPATH|MAKEFLAGS|MFLAGS|MAKELEVEL)$"
)


@dataclass
class Command:
    source: str  # fichero y línea, para el mensaje de error
    text: str
    expect: list[str] = field(default_factory=list)  # lo que la documentación dice que sale


def complete(text: str) -> bool:
    """¿Termina aquí la orden? (ni «\\» al final ni comillas abiertas, como lo ve bash)."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # comillas sin cerrar: la orden sigue en la línea siguiente
        return False
    return True


def block_commands(lines: list[str], fence: int, source: str) -> list[Command]:
    """Las órdenes de un bloque; ``fence`` es el índice de su línea ```bash."""
    commands: list[Command] = []
    buffer: list[str] = []
    first = 0
    for offset, line in enumerate(lines):
        if not buffer and (not line.strip() or line.lstrip().startswith("#")):
            continue  # las líneas de comentario del bloque explican, no se ejecutan
        if not buffer:
            first = fence + offset + 2  # número de línea (desde 1) en el documento
        buffer.append(line)
        text = "\n".join(buffer)
        if complete(text):
            commands.append(Command(f"{source}:{first}", text.strip()))
            buffer = []
    assert not buffer, f"{source}:{first}: orden sin terminar"
    return commands


def normalized(command: str) -> str:
    """La orden sin su comentario final ni saltos de línea, para compararla con SKIPPED."""
    return shlex.join(shlex.split(command.replace("\\\n", " "), comments=True))


def doc_commands(path: Path) -> tuple[list[Command], list[str]]:
    """Las órdenes de los bloques ```bash de un documento, y las que su comentario salta."""
    lines = path.read_text(encoding="utf-8").splitlines()
    source = path.relative_to(ROOT).as_posix()
    commands: list[Command] = []
    skipped: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```bash":
            i += 1
            continue
        end = lines.index("```", i + 1)
        block = block_commands(lines[i + 1 : end], i, source)
        note = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if SKIP_NOTE in note:
            named = re.findall(r"`([^`]+)`", note)
            gone = [c for c in block if "este bloque" in note or normalized(c.text) in named]
            assert gone, f"{source}:{i}: el comentario no salta ninguna orden: {note}"
            skipped += [normalized(c.text) for c in gone]
            block = [c for c in block if c not in gone]
        # «Salida medida: `...`» en el párrafo que sigue al bloque: lo que dice la última orden.
        after = next((line for line in lines[end + 1 :] if line.strip()), "")
        measured = re.match(r"Salida medida: `([^`]+)`", after)
        if measured and block:
            block[-1].expect.append(measured.group(1))
        commands += block
        i = end + 1
    return commands, skipped


def all_commands() -> tuple[list[Command], list[str]]:
    commands: list[Command] = []
    skipped: list[str] = []
    for doc in DOCS:
        found, gone = doc_commands(ROOT / doc)
        commands += found
        skipped += gone
    return commands, skipped


def clean_env(port: int) -> dict[str, str]:
    """El entorno de una terminal nueva: sin el .venv de quien lanza las pruebas ni ajustes."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if not KNOBS.match(k)}
    env.update(PATH=path, PORT=str(port), **SHORT_RUN)
    return env


def run_serve(cmd: Command, clone: Path, env: dict[str, str]) -> str:
    """``make serve`` sirve hasta Ctrl-C: se espera a /ready y se para como lo pararía alguien."""
    url = f"http://127.0.0.1:{env['PORT']}"
    proc = subprocess.Popen(
        ["bash", "-c", cmd.text], cwd=clone, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    ready = False
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                with urllib.request.urlopen(f"{url}/ready", timeout=5) as resp:
                    ready = resp.status == 200
            except (urllib.error.URLError, OSError):
                time.sleep(1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: la señal llega a todo el grupo
        out, _ = proc.communicate(timeout=120)
    assert ready, f"{cmd.source}: {cmd.text} no llegó a servir en {url}:\n{out[-4000:]}"
    assert f"Playground: {url}/" in out, out[-4000:]
    assert "se apaga el proceso maestro" in out, out[-4000:]  # parada ordenada
    return out


def run_command(cmd: Command, clone: Path, env: dict[str, str]) -> str:
    if cmd.text.startswith("make serve"):
        return run_serve(cmd, clone, env)
    proc = subprocess.run(
        ["bash", "-c", cmd.text], cwd=clone, env=env, text=True, timeout=1200,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert proc.returncode == 0, f"{cmd.source}: `{cmd.text}` → {proc.returncode}\n{proc.stdout}"
    return proc.stdout


def test_the_docs_list_the_commands_they_skip() -> None:
    """Sin clonar nada: qué se ejecuta y qué se salta sale de los documentos como se espera."""
    commands, skipped = all_commands()
    assert set(skipped) == SKIPPED, skipped
    texts = [c.text for c in commands]
    assert texts[0].startswith("make train"), texts  # README: lo primero, crear .venv y entrenar
    assert any(t.startswith(".venv/bin/python -c") and "\n" in t for t in texts)
    assert [c for c in commands if c.expect], "ninguna «Salida medida» encontrada"


@pytest.mark.docs
def test_every_command_in_readme_and_lesson_works_as_written(tmp_path: Path) -> None:
    clone = tmp_path / "llm-desde-cero"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    env = clean_env(free_port())
    commands, _ = all_commands()
    started = time.monotonic()
    for cmd in commands:
        t0 = time.monotonic()
        out = run_command(cmd, clone, env)
        print(f"{time.monotonic() - t0:6.1f} s  {cmd.source}  {cmd.text.splitlines()[0]}")
        assert "Traceback" not in out, f"{cmd.source}: {cmd.text}\n{out}"
        for expected in cmd.expect:
            assert expected in out, f"{cmd.source}: la documentación dice «{expected}»:\n{out}"
    print(f"total: {time.monotonic() - started:.0f} s")

"""Windows sin Windows: lo que este Linux puede comprobar de docs/windows.md.

No hay Windows en CI. Aquí se finge en la frontera: ``sys.platform = "win32"`` y, en los
subprocesos, sin lo que Windows no tiene (tests/helpers/fake_windows.py). Lo demás lo mira
``make check-windows`` (pyright con pythonPlatform = "Windows"). Lo que solo una máquina Windows
de verdad confirma (torch de PyPI allí, PowerShell, Docker Desktop) está dicho en docs/windows.md.
"""

from __future__ import annotations

import ctypes
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import shared.checkpoints.files as ckpt_files
import shared.common.memory_estimate as memory
from shared.checkpoints.files import Checkpoint, load_checkpoint, save_checkpoint
from shared.config import GPTConfig
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT
from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS, tiny_text
from trainer import console, cpu_tuning
from trainer.errors import run_cli

FAKE_WINDOWS = "from tests.helpers.fake_windows import run_module; import sys; " + (
    "run_module(sys.argv[1], sys.argv[2:])"
)


def as_windows(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m module`` con Windows fingido y la salida en cp1252, como una salida
    redirigida en un Windows en español (``python -m trainer > log.txt``)."""
    env = {**SUBPROCESS_ENV, "PYTHONIOENCODING": "cp1252"}
    cmd = [sys.executable, "-c", FAKE_WINDOWS, module, *args]
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, encoding="cp1252", timeout=timeout
    )


def test_server_on_windows_says_what_to_do_and_exits_2(tmp_path: Path) -> None:
    # Solo sys.platform: el servidor tiene que pararse antes de importar gunicorn (fcntl) o
    # server/start.py (resource), así que no hace falta fingir nada más.
    code = (
        "import runpy, sys\n"
        "sys.platform = 'win32'\n"
        "try:\n"
        "    runpy.run_module('server', run_name='__main__', alter_sys=True)\n"
        "finally:\n"
        "    heavy = [m for m in sys.modules if m.split('.')[0] in ('gunicorn', 'flask', 'torch')"
        " or m == 'server.start']\n"
        "    print('importados:', sorted(heavy))\n"
    )
    env = {**SUBPROCESS_ENV, "CHECKPOINT_DIR": str(tmp_path), "HOST": "127.0.0.1", "PORT": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Windows" in lines[0] and "docker compose up" in lines[0] and "WSL2" in lines[0]
    assert "Traceback" not in out.stderr
    assert out.stdout.strip() == "importados: []"


def test_the_trainer_commands_run_without_what_windows_lacks(tmp_path: Path) -> None:
    """Las cinco órdenes de docs/windows.md, con Windows fingido y salida cp1252."""
    data = tmp_path / "mini.txt"
    data.write_text(tiny_text(), encoding="utf-8")
    ckpts = tmp_path / "ckpt"
    train = as_windows(
        "trainer", *TINY_GPT_ARGS, "--data", str(data), "--max-steps", "20",
        "--checkpoint-dir", str(ckpts),
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    # Lo que dice al terminar es lo que se puede hacer en Windows: sin make.
    assert "python -m trainer.generate --ckpt" in train.stdout
    assert "make " not in train.stdout
    assert len(list(ckpts.glob("*.pt"))) == 1

    gen = as_windows("trainer.generate", "--ckpt", str(ckpts), "--prompt", "Línea", "--seed", "1")
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.startswith("Línea")
    assert "para repetirlo: --seed 1\n" in gen.stderr  # sin make

    ev = as_windows("trainer.evaluate", "--ckpt", str(ckpts))
    assert ev.returncode == 0, ev.stderr
    assert "perplejidad" in ev.stdout

    png = tmp_path / "atencion.png"
    att = as_windows("trainer.attention", "--ckpt", str(ckpts), "--prompt", "la casa", "--out",
                     str(png))  # fmt: skip
    assert att.returncode == 0, att.stderr
    assert png.read_bytes().startswith(b"\x89PNG")

    # La comparación dice «→», que cp1252 no tiene: sale «?» en vez de parar con una traza.
    cmp = as_windows(
        "trainer.compare", "--data", str(data), "--out", str(tmp_path / "cmp"), "--quick",
        "--max-steps", "2", "--sample-chars", "5", "--no-progress",
    )  # fmt: skip
    assert cmp.returncode == 0, cmp.stderr
    assert "' ? " in cmp.stdout
    assert (tmp_path / "cmp" / "informe.html").is_file()


def test_output_that_the_code_page_lacks_is_replaced_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "platform", "win32")
    assert run_cli(lambda: print("paso 1 → 2 · ≈ ñ") or 0) == 0
    stream.flush()
    assert raw.getvalue().decode("cp1252") == "paso 1 ? 2 · ? ñ\n"


def make_ckpt() -> Checkpoint:
    tok = CharTokenizer.from_text("hola ñandú")
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_embd=8, n_head=2, n_layer=1)
    torch.manual_seed(0)
    return Checkpoint("gpt", cfg, tok, GPT(cfg).state_dict(), step=1, val_loss=1.0)


def open_paths() -> set[str]:
    """Lo que este proceso tiene abierto (Linux: /proc/self/fd). En Windows, vacío: allí el
    propio os.replace falla si el temporal sigue abierto."""
    paths: set[str] = set()
    if not os.path.isdir("/proc/self/fd"):
        return paths
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return paths


def test_the_checkpoint_temp_file_is_closed_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows no renombra un fichero abierto: el temporal tiene que estar cerrado al llegar a
    # os.replace. Aquí Linux sí lo permitiría, así que se mira la lista de abiertos.
    real_replace = os.replace
    seen: list[tuple[str, bool]] = []

    def checking_replace(src: str | Path, dst: str | Path) -> None:
        seen.append((str(src), str(Path(src).resolve()) in open_paths()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    path = save_checkpoint(make_ckpt(), tmp_path / "run.pt")
    assert len(seen) == 1 and seen[0][0].endswith(".tmp")
    assert seen[0][1] is False, "el temporal seguía abierto al renombrarlo"
    assert load_checkpoint(path).step == 1


def test_windows_retries_the_rename_while_a_reader_has_the_file_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    failures = [PermissionError(13, "Acceso denegado")] * 2

    def busy_then_free(src: str | Path, dst: str | Path) -> None:
        if failures:
            raise failures.pop()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", busy_then_free)
    monkeypatch.setattr(sys, "platform", "win32")
    path = save_checkpoint(make_ckpt(), tmp_path / "run.pt")
    assert not failures and load_checkpoint(path).step == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # ni un temporal


def test_elsewhere_a_permission_error_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def denied(src: str | Path, dst: str | Path) -> None:
        calls.append(src)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(PermissionError):
        save_checkpoint(make_ckpt(), tmp_path / "run.pt")
    assert len(calls) == 1
    assert list(tmp_path.iterdir()) == []
    assert ckpt_files.REPLACE_RETRY_SECONDS > 0


def test_windows_free_memory_comes_from_global_memory_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ctypes.windll solo existe en Windows: un kernel32 falso que rellena la estructura.
    class Kernel32:
        def GlobalMemoryStatusEx(self, ref: object) -> int:  # noqa: N802 (nombre de la API)
            status = ref._obj  # type: ignore[attr-defined]  # lo que envuelve ctypes.byref
            assert status.dwLength == ctypes.sizeof(status)
            status.ullAvailPhys = 6 * 2**30
            return 1

    class WinDLL:
        kernel32 = Kernel32()

    monkeypatch.setattr(ctypes, "windll", WinDLL(), raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    assert memory._host_available() == 6 * 2**30


def test_glibc_memory_tuning_stays_off_outside_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    for platform in ("win32", "darwin"):
        monkeypatch.setattr(sys, "platform", platform)
        assert cpu_tuning.keep_freed_memory() is False


def test_next_steps_on_windows_use_python_not_make(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_IN_DOCKER", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    lines = console.next_steps("gpt", Path("checkpoints/gpt/run.pt"))
    text = "\n".join(lines)
    assert "make" not in text
    assert f'python -m trainer.generate --ckpt "{Path("checkpoints/gpt")}"' in text
    assert "docs/windows.md" in text

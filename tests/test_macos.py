"""macOS sin Mac: de dónde viene torch en macOS y qué enciende el entrenador en MPS.

No hay Mac en CI: aquí se finge en la frontera que no puede existir en esta máquina
(``platform.system()`` en un subproceso; ``torch.backends.mps.is_available`` en el proceso). Lo
que esto NO prueba, y solo un Mac de verdad confirmaría: que la rueda de PyPI traiga MPS, que
cada núcleo funcione en MPS y cuánto tarda (docs/windows.md, sección macOS).

Las decisiones, una por función (ver también docs/windows.md):
- ``--device auto``: cuda → mps → cpu.
- precisión: ``auto`` → float32 en MPS (bf16 no medido más rápido allí); bfloat16 se rechaza.
- AdamW: el de PyTorch por defecto (``fused=None``); fused solo en CPU y CUDA.
- hilos: el ajustador de hilos de CPU no se usa.
- atención: sdpa de la lección; la atención bf16 de CPU no se pone.
- memoria: la RAM del equipo (MPS la comparte), nunca la consulta de CUDA.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared.common import memory_estimate
from shared.common.device import resolve_device
from shared.common.errors import ConfigError, DeviceError
from shared.config import GPTConfig
from shared.transformer_model import GPT, CausalSelfAttention
from tests.helpers.cli import ROOT
from trainer.cpu_tuning import tuner_for
from trainer.precision import choose_attention, describe_dtype, fused_adamw, resolve_dtype

MPS = torch.device("mps")  # construir el objeto no necesita MPS; usarlo, sí
INSTALL_TORCH = ROOT / "scripts" / "install_torch.py"


@pytest.fixture
def fake_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Un Mac con Apple Silicon, para las funciones que solo preguntan si hay MPS."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# --- de dónde viene torch (make install → scripts/install_torch.py) -----------------------


def torch_plan_on(system: str, bindir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """install_torch.py --dry-run con ``platform.system()`` fingido y un nvidia-smi que dice
    que hay GPU (en macOS y Windows no cuenta)."""
    smi = bindir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-1)'\n")
    smi.chmod(0o755)
    code = (
        "import platform, runpy, sys\n"
        f"platform.system = lambda: {system!r}\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    # Un índice CPU donde no escucha nadie: si el script lo probara, se notaría (none:).
    args = [str(INSTALL_TORCH), "--dry-run", "--cpu-index", "http://127.0.0.1:9/whl/cpu"]
    full_env = {"PATH": str(bindir), "HOME": str(bindir), "PIP_CONFIG_FILE": "/dev/null", **env}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=full_env,
        timeout=120,
    )  # fmt: skip


def pinned_torch() -> str:
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return next(d for d in deps["dependencies"] if d.startswith("torch=="))


def test_macos_install_takes_the_pypi_wheel_with_mps(tmp_path: Path) -> None:
    out = torch_plan_on("Darwin", tmp_path)
    assert out.returncode == 0, out.stderr
    first, command = out.stdout.splitlines()
    assert first.startswith("pypi: macOS") and "MPS" in first
    assert command == f"pip install --no-deps {pinned_torch()}"  # sin --index-url


def test_windows_install_takes_the_pypi_cpu_wheel(tmp_path: Path) -> None:
    out = torch_plan_on("Windows", tmp_path)
    assert out.returncode == 0, out.stderr
    first, command = out.stdout.splitlines()
    assert first.startswith("pypi: Windows") and "solo CPU" in first
    assert command == f"pip install --no-deps {pinned_torch()}"


def test_torch_index_url_still_wins_on_macos(tmp_path: Path) -> None:
    out = torch_plan_on("Darwin", tmp_path, TORCH_INDEX_URL="https://example.org/whl/nightly")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("custom:")
    assert "--index-url https://example.org/whl/nightly" in out.stdout


# --- qué se enciende en MPS -------------------------------------------------------------


def test_auto_picks_mps_when_there_is_no_cuda(fake_mps: None) -> None:
    assert resolve_device("auto") == MPS
    assert resolve_device("mps") == MPS


def test_mps_asked_for_without_mps_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match="MPS"):
        resolve_device("mps")


def test_precision_on_mps_is_float32_and_bf16_is_refused(fake_mps: None) -> None:
    assert resolve_dtype("auto", MPS) == "float32"
    assert "mps" in describe_dtype("float32", MPS, requested="auto")
    assert resolve_dtype("float32", MPS) == "float32"
    with pytest.raises(ConfigError, match="MPS"):
        resolve_dtype("bfloat16", MPS)


def tiny_gpt() -> GPT:
    return GPT(GPTConfig(vocab_size=10, block_size=8, n_embd=8, n_head=2, n_layer=2))


def test_adamw_on_mps_is_pytorchs_default_not_fused(fake_mps: None) -> None:
    assert fused_adamw(tiny_gpt(), MPS) is None
    assert fused_adamw(tiny_gpt(), torch.device("cpu")) is True  # lo que cambia


def test_thread_tuning_is_cpu_only(fake_mps: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert tuner_for(MPS, distributed=False) is None
    assert tuner_for(torch.device("cpu"), distributed=False) is not None  # lo que cambia


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_attention_on_mps_stays_the_lessons_sdpa(fake_mps: None, dtype: str) -> None:
    model = tiny_gpt()
    assert choose_attention(model, MPS, dtype) is False
    attn = [m for m in model.modules() if isinstance(m, CausalSelfAttention)]
    assert attn and all(type(m) is CausalSelfAttention and m.use_sdpa for m in attn)


def test_memory_on_mps_is_the_machines_ram(fake_mps: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cuda(*args: object) -> None:
        raise AssertionError("en MPS no se pregunta a CUDA")

    monkeypatch.setattr(torch.cuda, "mem_get_info", no_cuda)
    monkeypatch.setattr(memory_estimate, "_host_available", lambda: 16 * 2**30)
    monkeypatch.setattr(memory_estimate, "_cgroup_room", lambda: None)
    assert memory_estimate.available_memory(MPS) == 16 * 2**30

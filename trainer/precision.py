"""Precisión del cálculo: float32 o bfloat16 con autocast, y qué elige ``--dtype auto``.

bfloat16 tiene el mismo rango que float32 pero solo 8 bits de mantisa. Con autocast, las
multiplicaciones de matrices (casi todo el cálculo) se hacen en bf16 y lo delicado (LayerNorm,
softmax, la pérdida) sigue en float32; los pesos y el optimizador se quedan en float32. Solo
compensa donde el hardware multiplica bf16 de verdad: CPUs con AMX o AVX512-BF16 (Intel Xeon
desde Cooper/Sapphire Rapids) y GPUs CUDA con soporte bf16 (Ampere o posteriores). En el resto
se emula y va más lento que float32, así que ``auto`` se queda con float32.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import torch

from shared.errors import ConfigError
from shared.transformer_model import CausalSelfAttention

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """Las capacidades de la CPU según Linux (vacío en otros sistemas)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def fast_bf16(device: torch.device) -> bool:
    """¿Multiplica este dispositivo matrices bf16 en hardware?"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)
    return False


def resolve_dtype(name: str, device: torch.device) -> str:
    """``auto`` → bfloat16 donde es rápido (medido: ver docs/BENCHMARKS.md); si no, float32."""
    if name == "auto":
        return "bfloat16" if fast_bf16(device) else "float32"
    if name not in ("float32", "bfloat16"):
        raise ConfigError(f"--dtype desconocido '{name}'; opciones: auto, float32, bfloat16.")
    if name == "bfloat16" and device.type == "mps":
        raise ConfigError("--dtype bfloat16 no está soportado en MPS; usa float32.")
    return name


def describe_dtype(dtype: str, device: torch.device) -> str:
    if dtype == "float32":
        return "float32"
    why = "emulado: más lento que float32" if not fast_bf16(device) else "en hardware"
    return f"bfloat16 con autocast ({why})"


def autocast_context(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_compiler() -> None:
    """torch.compile en CPU genera C++ y lo compila: sin compilador falla a mitad del arranque."""
    if not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        raise ConfigError(
            "--compile necesita un compilador de C++ (g++ o clang++) y no se encontró ninguno. "
            "Instálalo (p. ej. apt-get install g++) o entrena sin --compile."
        )


def cpu_bf16_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, dropout_p: float
) -> torch.Tensor:
    """La cuenta de ``CausalSelfAttention._attention_explicit`` con menos pasadas por la matriz
    T×T (la que manda en memoria): ``baddbmm`` multiplica, escala y suma la máscara (0 o -inf)
    en una operación, y en el backward la máscara no cuesta nada (el softmax ya da gradiente 0
    al futuro)."""
    b, h, t, d = q.shape
    bias = torch.zeros(mask.shape, device=q.device).masked_fill_(~mask, float("-inf"))
    keys = k.reshape(b * h, -1, d).transpose(1, 2)
    att = torch.baddbmm(bias, q.reshape(b * h, t, d), keys, alpha=d**-0.5)
    att = torch.softmax(att, dim=-1)
    if dropout_p > 0:
        att = torch.nn.functional.dropout(att, dropout_p)
    return (att @ v.reshape(b * h, -1, d)).view(b, h, t, d)


def choose_attention(model: torch.nn.Module, device: torch.device, dtype: str) -> bool:
    """Entrenando en CPU con bf16, la atención de ``cpu_bf16_attention`` en vez de sdpa.

    El backward del núcleo "flash" de PyTorch para CPU no aprovecha las matmuls bf16 (AMX): con
    esta cuenta el paso entero es bastante más rápido (docs/BENCHMARKS.md). En float32, en GPU
    y al generar, sdpa sigue siendo lo mejor. Devuelve si se ha cambiado.
    """
    if device.type != "cpu" or dtype != "bfloat16":
        return False
    changed = False
    for module in model.modules():
        if isinstance(module, CausalSelfAttention) and module.use_sdpa:
            module.kernel = cpu_bf16_attention
            changed = True
    return changed

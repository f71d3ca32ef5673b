"""Cómo se hace la cuenta aquí: float32 o bfloat16 con autocast (y qué elige ``--dtype auto``),
y los núcleos rápidos que el entrenador pone por fuera del modelo (atención bf16 en CPU, AdamW).

bfloat16 tiene el mismo rango que float32 pero solo 8 bits de mantisa. Con autocast, las
multiplicaciones de matrices (casi todo el cálculo) se hacen en bf16 y lo delicado (LayerNorm,
softmax, la pérdida) sigue en float32; los pesos y el optimizador se quedan en float32.

``auto`` elige bf16 solo donde se ha medido o se sabe que es más rápido (docs/BENCHMARKS.md):
CPUs con AMX (Intel Xeon desde Sapphire Rapids: el paso de la semilla ~2× y el de 6×384 ~3×
más rápido) y GPUs CUDA que multiplican bf16 en hardware (Ampere o posteriores). Una CPU con
AVX512-BF16 pero sin AMX tiene instrucciones bf16, pero ahí el paso bf16 midió 0,68× el de
float32 a la semilla y 0,92× a 6×384 (pico de matmul: 160 GFLOP/s en bf16 frente a 300 en
float32), así que ``auto`` se queda con float32; igual en MPS y en CPUs sin nada de eso.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import torch

from shared.common.errors import ConfigError
from shared.transformer_model import GPT, CausalSelfAttention
from trainer.settings import DTYPES

AMX_FLAGS = ("amx_bf16", "amx_tile")  # las dos: la unidad de tiles y su multiplicación bf16


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


def bf16_verdict(device_type: str, flags: set[str], cuda_bf16: bool) -> tuple[bool, str]:
    """¿Es bf16 más rápido que float32 aquí? Y por qué, en una frase para el registro.

    Función pura (los flags de la CPU y el soporte de la GPU entran como datos) para poder
    probar la decisión con cualquier máquina.
    """
    if device_type == "cuda":
        if cuda_bf16:
            return True, "la GPU multiplica bf16 en hardware"
        return False, "esta GPU no multiplica bf16 en hardware (anterior a Ampere)"
    if device_type == "cpu":
        if all(flag in flags for flag in AMX_FLAGS):
            return True, "la CPU tiene AMX (amx_bf16, amx_tile), que multiplica bf16 más rápido"
        if "avx512_bf16" in flags:
            return False, (
                "la CPU tiene AVX512-BF16 pero no AMX: ahí bf16 midió más lento que float32 "
                "(0,68× a la semilla)"
            )
        return False, "la CPU no tiene AMX: bf16 sería más lento que float32"
    return False, f"en {device_type} bf16 no es más rápido que float32"


def _verdict(device: torch.device) -> tuple[bool, str]:
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
    return bf16_verdict(device.type, cpu_flags() if device.type == "cpu" else set(), cuda_bf16)


def fast_bf16(device: torch.device) -> bool:
    """¿Es bf16 más rápido que float32 en este dispositivo? (lo que elige ``auto``)."""
    return _verdict(device)[0]


def resolve_dtype(name: str, device: torch.device) -> str:
    """``auto`` → bfloat16 donde es más rápido (ver el docstring del módulo); si no, float32."""
    if name not in DTYPES:
        raise ConfigError(f"--dtype desconocido '{name}'; opciones: {', '.join(DTYPES)}.")
    if name == "auto":
        return "bfloat16" if fast_bf16(device) else "float32"
    if name == "bfloat16" and device.type == "mps":
        raise ConfigError("--dtype bfloat16 no está soportado en MPS; usa float32.")
    return name


def describe_dtype(dtype: str, device: torch.device, requested: str = "") -> str:
    """La línea del registro: qué precisión se usa y, con ``auto``, por qué."""
    fast, why = _verdict(device)
    name = "float32" if dtype == "float32" else "bfloat16 con autocast"
    if requested == "auto":
        return f"{name} (--dtype auto: {why})"
    if dtype == "bfloat16" and not fast:
        return f"{name} (ojo: {why})"
    return name


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


class CpuBf16Attention(CausalSelfAttention):
    """La atención de la lección con ``cpu_bf16_attention`` donde usaría sdpa; nada más cambia
    (pesos, máscara, caché y ``state_dict`` son los de ``CausalSelfAttention``)."""

    @staticmethod
    def _attention_sdpa(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, dropout_p: float
    ) -> torch.Tensor:
        return cpu_bf16_attention(q, k, v, mask, dropout_p)


def choose_attention(model: torch.nn.Module, device: torch.device, dtype: str) -> bool:
    """Entrenando en CPU con bf16, la atención de ``cpu_bf16_attention`` en vez de sdpa.

    El backward del núcleo "flash" de PyTorch para CPU no aprovecha las matmuls bf16 (AMX): con
    esta cuenta el paso entero es bastante más rápido (docs/BENCHMARKS.md). En float32, en GPU
    y al generar, sdpa sigue siendo lo mejor. El modelo de la lección no sabe nada de esto: sus
    módulos de atención pasan a ser ``CpuBf16Attention`` (la misma clase con otro núcleo), sin
    copiar ni reconstruir nada. Devuelve si se ha cambiado.
    """
    if device.type != "cpu" or dtype != "bfloat16":
        return False
    changed = False
    for module in model.modules():
        if type(module) is CausalSelfAttention and module.use_sdpa:
            module.__class__ = CpuBf16Attention
            changed = True
    return changed


def fused_adamw(model: torch.nn.Module, device: torch.device) -> bool | None:
    """¿AdamW con ``fused``? Un solo núcleo actualiza todos los parámetros del GPT (en CPU, ~10×
    menos tiempo de optimizador que el bucle tensor a tensor; el algoritmo es el mismo).

    El bigrama (una sola tabla) se queda con el AdamW por defecto, como siempre: cambiarlo
    movería sus números en el último bit. None: lo que PyTorch elija por defecto.
    """
    return isinstance(model, GPT) and device.type in ("cpu", "cuda") or None

"""La máquina en la que se mide y el pico de multiplicación de matrices que puede alcanzar."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import torch

from trainer.precision import cpu_flags, fast_bf16

PEAK_SIZES = (1024, 2048, 4096)
SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8")


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "desconocido"


def machine_info(device: torch.device) -> dict[str, Any]:
    flags = cpu_flags()
    info: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16": sorted(f for f in ("amx_bf16", "avx512_bf16", "amx_tile") if f in flags),
        # Las extensiones vectoriales que deciden la velocidad: cada cifra dice en cuáles se midió.
        "cpu_simd": sorted(f for f in SIMD_FLAGS if f in flags),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "fast_bf16": fast_bf16(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load_average() -> float | None:
    """Carga de la máquina en el último minuto: si es alta, otros procesos comparten la CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops(n: int, dtype: torch.dtype, device: torch.device, seconds: float) -> float:
    """FLOP/s de ``a @ b`` con matrices cuadradas n×n (2·n³ operaciones cada una)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(2):  # calentar: la primera llamada prepara los núcleos de oneDNN/cuBLAS
        a @ b
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        _sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return 2 * n**3 * reps / elapsed


def matmul_peak(dtype: torch.dtype, device: torch.device, seconds: float = 1.0) -> dict[str, Any]:
    """El mejor de varios tamaños: el pico práctico con el que comparar el entrenamiento."""
    sizes = PEAK_SIZES if device.type == "cpu" else (4096, 8192)
    if dtype == torch.bfloat16 and not fast_bf16(device):
        sizes = sizes[:1]  # bf16 emulado: la matmul grande tardaría minutos y no es el pico
    results = {n: matmul_flops(n, dtype, device, seconds) for n in sizes}
    best = max(results, key=lambda n: results[n])
    return {"flops": results[best], "size": best}

"""¿Cabe el modelo? Estimación de memoria a partir de la configuración, antes de reservar nada.

Un checkpoint de 143 KB puede declarar ``block_size`` 131072: cada bloque reservaría una máscara
causal de 131072² bytes (17 GB) al construirse. Y ``--n-embd 100000`` o ``--batch-size 10**9``
acaban en un error de reserva a mitad de camino. Aquí se cuenta lo que ocuparán pesos, máscaras,
gradientes, optimizador y activaciones, con las formas de ``shared/checkpoints/shapes.py`` (que
``tests/test_memory_budget.py`` compara con el modelo de verdad), y se compara con la memoria
disponible. La CLI, el entrenador y el servidor usan esta misma comprobación.

Es una estimación: las activaciones se cuentan en float32 (con bfloat16 ocupan algo menos) y no
se cuentan los búferes temporales de cada operación. Sirve para rechazar lo que seguro no cabe.
El límite es la memoria disponible de la máquina (o del contenedor); ``MEMORY_LIMIT`` (p. ej.
``MEMORY_LIMIT=64G``) lo sustituye, para subirlo si sabes que cabe o bajarlo para protegerte;
``MEMORY_LIMIT=0`` quita la comprobación.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from shared.checkpoints.shapes import count_parameters
from shared.common.errors import ConfigError
from shared.common.spanish_numbers import fmt_float
from shared.config import BigramConfig, GPTConfig, ModelConfig

LIMIT_ENV = "MEMORY_LIMIT"
FLOAT = 4  # bytes de un float32
INDEX = 8  # bytes de un int64 (los ids de los lotes)
# Lo que se guarda para el backward en cada bloque, en vectores de n_embd por posición:
# entradas y salidas de las dos LayerNorm (4), q/k/v (3), salida de la atención (1) y de su
# proyección (1), la capa oculta de la MLP antes y después de GELU (4 + 4) y su proyección (1),
# y los dos residuales (2).
SAVED_PER_TOKEN_PER_LAYER = 20


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes que hacen falta, por partidas."""

    weights: int = 0
    masks: int = 0
    gradients: int = 0
    optimizer: int = 0
    activations: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.masks + self.gradients + self.optimizer + self.activations

    def describe(self) -> str:
        parts = [
            ("pesos", self.weights),
            ("máscaras causales", self.masks),
            ("gradientes", self.gradients),
            ("optimizador", self.optimizer),
            ("activaciones", self.activations),
        ]
        shown = ", ".join(f"{name} {format_bytes(n)}" for name, n in parts if n)
        return f"unos {format_bytes(self.total)} ({shown})"


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{fmt_float(n, 0 if unit == 'B' else 1)} {unit}"
        n /= 1000
    raise AssertionError("inalcanzable")


def mask_bytes(config: ModelConfig) -> int:
    """Las máscaras causales (bool, block_size² por bloque) se crean al construir el modelo."""
    if isinstance(config, GPTConfig):
        return config.n_layer * config.block_size * config.block_size
    return 0


def estimate_inference(config: ModelConfig, rows: int = 1) -> MemoryEstimate:
    """Construir el modelo y generar ``rows`` filas de contexto completo (con caché KV)."""
    t, v = config.block_size, config.vocab_size
    if isinstance(config, BigramConfig):
        activations = rows * t * v * FLOAT * 2
    else:
        c, h = config.n_embd, config.n_head
        kv_cache = 2 * config.n_layer * rows * t * c * FLOAT
        # Una pasada sobre el contexto entero. La atención explícita crea las matrices T×T de
        # todas las cabezas (puntuaciones, enmascarado, softmax) en la capa que se calcula; sdpa
        # con is_causal no las crea, y al generar de uno en uno cada consulta ve una fila.
        attention = rows * h * t * FLOAT * (3 * t if config.attention == "manual" else 1)
        activations = kv_cache + attention + rows * t * (12 * c + 2 * v) * FLOAT
    return MemoryEstimate(
        weights=count_parameters(config) * FLOAT, masks=mask_bytes(config), activations=activations
    )


def estimate_training(
    config: ModelConfig, batch_size: int, attention_matrices: bool = True
) -> MemoryEstimate:
    """Un paso de entrenamiento con AdamW: pesos, gradientes, dos momentos y activaciones.

    ``attention_matrices``: si la atención materializa las matrices T×T (la explícita y la de
    bf16 en CPU sí; el núcleo fusionado de sdpa en float32 o en GPU no).
    """
    params = count_parameters(config)
    b, t, v = batch_size, config.block_size, config.vocab_size
    batch = 4 * b * t * INDEX  # x, y y sus copias al apilar
    logits = 3 * b * t * v * FLOAT  # logits, log-softmax de la pérdida y su gradiente
    activations = batch + logits
    if isinstance(config, GPTConfig):
        c, h = config.n_embd, config.n_head
        per_layer = SAVED_PER_TOKEN_PER_LAYER * b * t * c * FLOAT
        if attention_matrices:
            per_layer += 2 * b * h * t * t * FLOAT  # puntuaciones y softmax de cada cabeza
        activations += config.n_layer * per_layer + 2 * b * t * c * FLOAT  # y los embeddings
    return MemoryEstimate(
        weights=params * FLOAT,
        masks=mask_bytes(config),
        gradients=params * FLOAT,
        optimizer=2 * params * FLOAT,  # AdamW: media y varianza de cada peso
        activations=activations,
    )


def parse_size(text: str) -> int:
    """``"512M"``, ``"64G"``, ``"1.5T"`` o bytes a secas → bytes."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*([kmgt]?)i?b?\s*", text, re.IGNORECASE)
    if not match:
        raise ConfigError(
            f"{LIMIT_ENV}={text!r} no es un tamaño válido: usa p. ej. 512M, 16G o 1.5T."
        )
    number = float(match.group(1).replace(",", "."))
    scale = 1024 ** "_KMGT".index(match.group(2).upper() or "_")
    return int(number * scale)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" = sin límite


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def _cgroup_room(base: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Lo que le queda al contenedor (cgroup v2 o v1) antes de su límite de memoria.

    La caché de ficheros inactiva cuenta como usada pero el núcleo la libera cuando hace falta
    (igual que ``docker stats``): no se resta.
    """
    for limit_file, usage_file, stat_key in (
        (base / "memory.max", base / "memory.current", "inactive_file"),
        (
            base / "memory/memory.limit_in_bytes",
            base / "memory/memory.usage_in_bytes",
            "total_inactive_file",
        ),
    ):
        limit = _read_int(limit_file)
        if limit is None or limit >= 2**60:  # sin límite (v1 lo escribe como un número enorme)
            continue
        usage = _read_int(usage_file) or 0
        usage -= _stat_value(limit_file.with_name("memory.stat"), stat_key)
        return max(0, limit - max(0, usage))
    return None


class _MemoryStatus(ctypes.Structure):
    """MEMORYSTATUSEX de la API de Windows (lo que rellena GlobalMemoryStatusEx)."""

    _fields_ = [
        ("dwLength", ctypes.c_ulong),
        ("dwMemoryLoad", ctypes.c_ulong),
        ("ullTotalPhys", ctypes.c_ulonglong),
        ("ullAvailPhys", ctypes.c_ulonglong),
        ("ullTotalPageFile", ctypes.c_ulonglong),
        ("ullAvailPageFile", ctypes.c_ulonglong),
        ("ullTotalVirtual", ctypes.c_ulonglong),
        ("ullAvailVirtual", ctypes.c_ulonglong),
        ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
    ]


def _windows_available() -> int | None:
    """La RAM libre según Windows, que no tiene /proc/meminfo ni os.sysconf."""
    status = _MemoryStatus()
    status.dwLength = ctypes.sizeof(_MemoryStatus)
    try:
        if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return None
    except (AttributeError, OSError):
        return None
    return int(status.ullAvailPhys)


def _host_available() -> int | None:
    if sys.platform == "win32":
        return _windows_available()
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # otro sistema: al menos la memoria física total
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes libres donde vivirá el modelo: la GPU, o la RAM de la máquina o del contenedor."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    known = [n for n in (_host_available(), _cgroup_room()) if n is not None]
    return min(known) if known else None


def memory_limit(device: torch.device | str = "cpu") -> tuple[int | None, str]:
    """El límite y de dónde sale, para el mensaje de error."""
    configured = os.environ.get(LIMIT_ENV, "").strip()
    if configured:
        limit = parse_size(configured)  # 0 = no comprobar
        return (limit or None), f"el límite {LIMIT_ENV}={configured}"
    where = "en la GPU" if torch.device(device).type == "cuda" else "en esta máquina"
    free = available_memory(device)
    return free, f"los {format_bytes(free or 0)} disponibles {where}"


def check_fits(estimate: MemoryEstimate, device: torch.device | str, what: str) -> None:
    """Lanza ``ConfigError`` (con la estimación) si ``what`` no cabe en el límite de memoria."""
    limit, source = memory_limit(device)
    if limit is None or estimate.total <= limit:
        return
    raise ConfigError(
        f"{what} necesitaría {estimate.describe()}, más que {source}. Usa un modelo más "
        f"pequeño (block_size, n_embd, n_layer, batch_size) o, si sabes que cabe, sube el "
        f"límite con {LIMIT_ENV} (p. ej. {LIMIT_ENV}=64G)."
    )

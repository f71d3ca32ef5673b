"""Entrenar con varios procesos: ``torchrun --nproc_per_node=N -m trainer ...``.

Cada proceso (un «rank») tiene una copia del modelo y saca sus propios lotes; tras cada
``backward`` DistributedDataParallel (DDP) promedia los gradientes entre todos, así que las
copias dan el mismo paso y siguen idénticas. El lote efectivo de un paso es
N procesos × ``batch_size`` × ``grad_accum`` secuencias.

El proceso 0 es el único que escribe checkpoints, métricas, mensajes y la barra de progreso.
Fuera de torchrun (sin la variable WORLD_SIZE) todo esto se reduce a un solo proceso.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from shared.common.errors import ConfigError, DeviceError

# Los lotes del rank r salen de un generador con semilla seed + r * RANK_SEED_STRIDE:
# el rank 0 saca exactamente los mismos lotes que un entrenamiento de un solo proceso.
RANK_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: un solo proceso, sin grupo

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """Cuántos procesos lanzó torchrun (1 si no se usó torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


def setup(device: torch.device) -> tuple[DistContext, torch.device]:
    """Crea el grupo de procesos si hay torchrun; devuelve el contexto y el dispositivo del rank.

    Backend gloo en CPU y nccl en CUDA (el único que usa NVLink/PCIe entre GPUs directamente).
    Con CUDA, cada proceso usa la GPU ``LOCAL_RANK`` de su máquina.
    """
    world = env_world_size()
    if world == 1:
        return DistContext(), device
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DeviceError(
                f"el proceso {rank} necesita la GPU {local_rank}, pero solo hay "
                f"{torch.cuda.device_count()}: usa --nproc_per_node <= número de GPUs."
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"el entrenamiento con varios procesos no admite '{device.type}'.")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local_rank, backend), device


def teardown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(ctx: DistContext, value: object) -> object:
    """El valor del rank 0 para todos (p. ej. el nombre del run, que lleva la hora)."""
    if not ctx.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(ctx: DistContext, value: object) -> list[object]:
    """Lista con el valor de cada rank, en orden de rank (la misma en todos)."""
    if not ctx.enabled:
        return [value]
    out: list[object] = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def step_consensus(
    ctx: DistContext, loss: float, stop: bool, device: torch.device
) -> tuple[float, bool]:
    """Pérdida media entre ranks y parar si cualquiera lo pide, en una sola comunicación.

    Todos deben parar en el mismo paso: un rank que sale mientras los demás esperan en el
    all-reduce de DDP los dejaría bloqueados.
    """
    if not ctx.enabled:
        return loss, stop
    buf = torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float64, device=device)
    # SUM de las pérdidas (luego dividimos) y SUM de las peticiones de parada (> 0 = alguien).
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return float(buf[0]) / ctx.world_size, float(buf[1]) > 0


def wrap_model(ctx: DistContext, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Con varios procesos, el modelo envuelto en DDP (promedia los gradientes); si no, él mismo."""
    if not ctx.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def batch_seed(seed: int, rank: int) -> int:
    return seed + rank * RANK_SEED_STRIDE


def rescale_grad_accum(stored_accum: int, stored_world: int, world: int) -> int | None:
    """``grad_accum`` que mantiene el lote efectivo al cambiar el número de procesos.

    Lote efectivo = procesos × batch_size × grad_accum. Devuelve None si no hay un entero que lo
    mantenga exactamente (p. ej. de 1 proceso con grad_accum 1 a 2 procesos).
    """
    total = stored_accum * stored_world
    if total % world != 0:
        return None
    return total // world

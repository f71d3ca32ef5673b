"""Elección del dispositivo: cuda → mps → cpu, salvo que el usuario pida uno concreto."""

from __future__ import annotations

import torch

from shared.common.errors import DeviceError


def resolve_device(name: str = "auto") -> torch.device:
    """Devuelve el dispositivo pedido, o el mejor disponible con ``auto``."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(
            f"dispositivo desconocido '{name}'; usa auto, cpu, cuda, cuda:N o mps."
        ) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("se pidió CUDA pero no hay ninguna GPU CUDA disponible.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"no existe la GPU {device.index} en esta máquina.")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("se pidió MPS pero este equipo no lo tiene disponible.")
    elif device.type != "cpu":
        raise DeviceError(f"dispositivo no soportado '{name}'; usa auto, cpu, cuda o mps.")
    return device

"""Fixtures comunes: un texto pequeño y un checkpoint diminuto. Los ayudantes, en tests/helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.checkpoints import train_tiny
from tests.helpers.cli import tiny_text

# Modelos diminutos en una máquina de 2 núcleos compartida: con un hilo se evita la
# sobresuscripción de OpenMP, que aquí multiplica por diez el tiempo de cada paso.
torch.set_num_threads(1)


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    path = tmp_path / "mini.txt"
    path.write_text(tiny_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Un GPT diminuto entrenado una vez por sesión con la CLI real sobre ``tiny_text()``."""
    d = tmp_path_factory.mktemp("ckpt")
    data = d / "mini.txt"
    data.write_text(tiny_text(), encoding="utf-8")
    return train_tiny(d, data=data)

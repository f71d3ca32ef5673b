"""Un entrenamiento elige su dispositivo una vez y valida la configuración del modelo una vez.

Se ejecuta la CLI de verdad (``trainer.cli.main``, lo mismo que ``python -m trainer``) en este
proceso, porque solo así se pueden contar las llamadas.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

import shared.common.device
from shared.config import BigramConfig, GPTConfig
from tests.helpers.cli import TINY_GPT_ARGS
from trainer.cli import main


def counted(original: Callable[..., Any]) -> tuple[Callable[..., Any], list[int]]:
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    return wrapper, calls


@pytest.mark.parametrize("config_cls", [GPTConfig, BigramConfig], ids=["gpt", "bigram"])
def test_training_resolves_the_device_and_validates_the_config_once(
    config_cls, tiny_data, tmp_path, monkeypatch
):
    original = shared.common.device.resolve_device
    resolve, devices = counted(original)
    for module in list(sys.modules.values()):  # también donde se importó por nombre
        if getattr(module, "resolve_device", None) is original:
            monkeypatch.setattr(module, "resolve_device", resolve)
    validate, validations = counted(config_cls.validate)
    monkeypatch.setattr(config_cls, "validate", validate)
    model = "gpt" if config_cls is GPTConfig else "bigram"
    args = [*TINY_GPT_ARGS, "--model", model, "--data", str(tiny_data), "--max-steps", "2",
            "--eval-interval", "2", "--checkpoint-dir", str(tmp_path),
            "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert devices[0] == 1, f"resolve_device: {devices[0]} llamadas"
    assert validations[0] == 1, f"{config_cls.__name__}.validate: {validations[0]} llamadas"

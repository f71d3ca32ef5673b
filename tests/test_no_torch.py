"""Lo que funciona sin torch: configuración, ajustes del entrenador y del servidor, y sus errores.

`make test-pythons` corre este fichero (y el del tokenizador) con cada Python 3.11–3.13 de la
máquina, en entornos con solo pytest y python-dotenv: sin conftest.py, que importa torch, y sin
torch, que en estas máquinas solo existe para 3.11. Por eso aquí no se usa nada de conftest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.common.errors import ConfigError
from shared.config import GPTConfig, config_from_dict

ROOT = Path(__file__).resolve().parent.parent
TORCH_FREE = ["shared.common.errors", "shared.tokenizer", "shared.config", "trainer.settings"]
# sys.modules["torch"] = None: cualquier `import torch` falla, esté instalado o no.
NO_TORCH = "import sys; sys.modules['torch'] = None; "


def run_without_torch(code: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", NO_TORCH + code]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_these_modules_do_not_import_torch() -> None:
    out = run_without_torch("; ".join(f"import {m}" for m in [*TORCH_FREE, "server.settings"]))
    assert out.returncode == 0, out.stderr


def test_server_help_needs_no_torch() -> None:
    out = run_without_torch(
        "import runpy; sys.argv = ['server', '--help']; "
        "runpy.run_module('server', run_name='__main__')"
    )
    assert out.returncode == 0, out.stderr
    assert "uso: python -m server" in out.stdout and "CHECKPOINT_DIR" in out.stdout


def test_gpt_config_errors_are_spanish() -> None:
    with pytest.raises(ConfigError, match="divisible por n_head"):
        GPTConfig(vocab_size=10, n_embd=130, n_head=4).validate()
    with pytest.raises(ConfigError, match="claves de configuración desconocidas"):
        config_from_dict("gpt", {"vocab_size": 10, "sorpresa": 1})
    assert config_from_dict("gpt", {"vocab_size": 10}).head_dim == 32


def test_train_settings_errors_are_spanish() -> None:
    from trainer.settings import TrainSettings

    with pytest.raises(ConfigError, match="--max-steps debe ser positivo"):
        TrainSettings(max_steps=0).validate()
    with pytest.raises(ConfigError, match="modelo desconocido 'trigram'"):
        TrainSettings(model="trigram").validate()
    TrainSettings().validate()


def test_server_settings_errors_are_spanish() -> None:
    from server.settings import Settings

    with pytest.raises(ConfigError, match="PORT debe ser un número entero"):
        Settings.from_env({"PORT": "ochenta"})
    assert Settings.from_env({"PORT": "8123"}).port == 8123

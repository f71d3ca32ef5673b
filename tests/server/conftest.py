"""Fixtures del servidor: un checkpoint diminuto por sesión y el servidor principal compartido.
Los ayudantes (lanzador, lector SSE, forma de los errores) están en tests/helpers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.checkpoints import train_tiny
from tests.helpers.server import ACCESS_LOG_FORMAT, ServerProcess


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directorio con un único checkpoint diminuto (40 pasos), entrenado una vez por sesión."""
    d = tmp_path_factory.mktemp("ckpt-servidor")
    train_tiny(d)
    return d


@pytest.fixture(scope="session")
def checkpoint(checkpoint_dir: Path) -> Path:
    return checkpoint_dir / "tiny.pt"


@pytest.fixture(scope="session")
def server(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """El servidor principal: 2 workers, sin clave, límites pequeños para poder probarlos. Su
    registro de accesos dice qué worker (pid) atendió cada petición con cabecera X-Prueba."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor"),
        args=("--access-logformat", ACCESS_LOG_FORMAT),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="6",
        TORCH_THREADS="1",
        MAX_NEW_TOKENS="300",
        MAX_PROMPT_CHARS="200",
        MAX_BODY_BYTES="4096",
        MAX_CONCURRENT_GENERATIONS="4",
        RELOAD_INTERVAL="1",
    )
    with srv.start():
        srv.wait_for_log(r"modelo cargado", count=2)  # los dos workers tienen modelo
        yield srv


@pytest.fixture
def copy_checkpoint(checkpoint: Path) -> Callable[..., Path]:
    def _copy(dest: Path, name: str = "tiny.pt") -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(checkpoint, dest / name))

    return _copy


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    """gpt-a (el GPT de 40 pasos de la sesión), tres copias suyas, un bigrama y gpt-b (10
    pasos, el último en llegar: el de por defecto)."""
    d = tmp_path_factory.mktemp("modelos")
    shutil.copy(checkpoint, d / "gpt-a.pt")
    shutil.copy(checkpoint.with_name("tiny.metrics.jsonl"), d / "tiny.metrics.jsonl")
    for i in (1, 2, 3):
        shutil.copy(checkpoint, d / f"copia-{i}.pt")
    train_tiny(d, "bigrama", max_steps=30, model="bigram")
    time.sleep(0.05)  # ctime distinto: gpt-b llega el último
    train_tiny(d, "gpt-b", max_steps=10)
    return d


@pytest.fixture(scope="session")
def class_dirs(
    tmp_path_factory: pytest.TempPathFactory, checkpoint: Path, models_dir: Path
) -> Path:
    """``checkpoints/gpt`` y ``checkpoints/bigram`` como los dejan ``make train`` y ``make
    train-bigram`` (un modelo por carpeta): el GPT de 40 pasos de la sesión y el bigrama de
    ``models_dir``, los dos con el mismo nombre de fichero (``clase.pt``). Devuelve la carpeta
    del GPT, la que se sirve."""
    root = tmp_path_factory.mktemp("clase") / "checkpoints"
    gpt, bigram = root / "gpt", root / "bigram"
    gpt.mkdir(parents=True)
    bigram.mkdir()
    shutil.copy(checkpoint, gpt / "clase.pt")
    shutil.copy(checkpoint.with_name("tiny.metrics.jsonl"), gpt / "tiny.metrics.jsonl")
    shutil.copy(models_dir / "bigrama.pt", bigram / "clase.pt")
    shutil.copy(models_dir / "bigrama.metrics.jsonl", bigram / "bigrama.metrics.jsonl")
    return gpt

"""Una clase entera pulsa «Generar» a la vez, con los valores por defecto del servidor.

El servidor real (gunicorn) con lo que tiene un usuario sin .env: nada fijado salvo el puerto
(PORT=0, uno libre); sirve ``checkpoints/gpt`` de su carpeta de trabajo, como ``make serve`` tras
``make train``. El modelo es el GPT de ``make train`` (sus valores por defecto) con un
entrenamiento corto. Los clientes son los del benchmark (``bench/class_load.py``): todos salen a
la vez y piden en streaming, como el playground.

Antes, con 2 plazas por worker, 30 clientes daban 4 × 200 y 26 × 429.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.class_load import run_class
from server.settings import Settings
from tests.helpers.cli import run_module
from tests.helpers.server import ServerProcess, batch_steps_with_more_rows_than

CLASS = 30
CHARS = 300


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("clase")
    # La orden de `make train` con sus valores por defecto; solo un entrenamiento corto.
    run_module(
        "trainer", "--max-steps", "20", "--checkpoint-dir", str(work / "checkpoints" / "gpt"),
        "--no-progress", timeout=600, check=True,
    )  # fmt: skip
    with ServerProcess(work).start(timeout=180).wait_ready(timeout=180) as server:
        yield server


def test_a_class_of_30_streams_at_once_with_no_errors(served: ServerProcess) -> None:
    row = run_class(served.url(), CLASS, CHARS)
    print(row)
    # Todos reciben sus 300 caracteres: ni un 429, ni un evento de error, ni un texto corto.
    assert row["errors"] == 0, row
    assert row["status_429"] == 0, row
    # Y el motor por lotes los hizo avanzar juntos (no uno tras otro): con 30 clientes repartidos
    # entre los workers, hubo pasos con más de 8 filas.
    assert batch_steps_with_more_rows_than(served, 8) > 0


def test_the_429_is_kept_for_a_real_overload(served: ServerProcess) -> None:
    # Más clientes que plazas en todos los workers: los de sobra reciben 429 al momento (hay
    # hilos libres por encima de las plazas), y los demás su texto entero.
    defaults = Settings()
    slots = defaults.max_concurrent_generations * defaults.web_concurrency
    clients = slots + 64
    row = run_class(served.url(), clients, CHARS)
    print(row)
    assert row["status_429"] > 0, row
    assert row["errors"] == row["status_429"], row  # ningún otro error
    # Al menos las plazas de un worker se llenaron y terminaron bien.
    assert clients - row["errors"] >= defaults.max_concurrent_generations, row

"""Generación por lotes en el servidor real: peticiones simultáneas en un mismo worker.

Un servidor de un solo worker (así todas las peticiones comparten el lote) recibe a la vez
peticiones con ajustes, semillas y prompts distintos, y otras que se suman a mitad de una
generación. Cada texto debe ser idéntico al que da ``stream_generate`` con esa petición sola
(la referencia se calcula aquí, en el proceso de la prueba, y una vez con la CLI real).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import torch

from shared.checkpoints.files import load_model
from shared.engine.batch import stream_generate
from shared.sampling import SamplingParams
from tests.helpers.cli import ROOT
from tests.helpers.server import ServerProcess, batch_steps_with_more_rows_than, metric, python_env
from tests.helpers.sse import iter_sse, read_sse

# Prompts de distintas longitudes, con caracteres del texto de entrenamiento. El último pasa del
# block_size (32) del checkpoint diminuto: se recorta igual que al generar en solitario.
LONG_PROMPT = "En Puerto Lindero las casas se apretaban contra la ladera como si temieran"
CASES: list[dict[str, Any]] = [
    {"prompt": "Hola", "max_new_tokens": 120, "temperature": 0.8, "top_k": 20, "seed": 1},
    {"prompt": "", "max_new_tokens": 90, "seed": 2},  # vacío: se parte de un salto de línea
    {"prompt": "El mar", "max_new_tokens": 150, "temperature": 0, "seed": 3},
    {"prompt": LONG_PROMPT, "max_new_tokens": 100, "temperature": 1.1, "top_p": 0.8, "seed": 4},
    # 300 caracteres con block_size 32: la ventana salta muchas veces.
    {"prompt": "de la", "max_new_tokens": 300, "temperature": 0.9, "top_k": 5, "top_p": 0.9,
     "seed": 5},
    {"prompt": "a", "max_new_tokens": 1, "seed": 6},
    {"prompt": "Hola", "max_new_tokens": 60, "top_probs": 3, "seed": 7},
    {"prompt": "Hola", "max_new_tokens": 120, "temperature": 0.8, "top_k": 20, "seed": 8},
    # La misma petición dos veces en el mismo lote: el mismo texto.
    {"prompt": "Aurelio", "max_new_tokens": 200, "temperature": 1.3, "seed": 9},
    {"prompt": "Aurelio", "max_new_tokens": 200, "temperature": 1.3, "seed": 9},
    {"prompt": "casas blancas", "max_new_tokens": 80, "temperature": 0.5, "seed": 10},
    {"prompt": "", "max_new_tokens": 250, "temperature": 0.7, "top_p": 0.95, "seed": 11},
]  # fmt: skip
STREAMED = {1, 4, 6, 9}  # estas van en streaming (SSE); las demás, en JSON


@pytest.fixture(scope="module")
def batch_server(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Un solo worker con plazas para 16 generaciones: todas comparten lote."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-lotes"),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="24",
        TORCH_THREADS="1",
        MAX_CONCURRENT_GENERATIONS="16",
        MAX_NEW_TOKENS="1000000",
        MAX_PROMPT_CHARS="200",
        RELOAD_INTERVAL="0",
        BATCHING="1",
    ).start()
    with srv:
        srv.wait_for_log("modelo cargado")
        yield srv


@pytest.fixture(scope="module")
def solo(checkpoint: Path) -> Any:
    """Genera una petición sola con ``stream_generate``, como lo haría el servidor sin lotes."""
    model, tokenizer, _ = load_model(checkpoint, torch.device("cpu"))

    def _solo(case: dict[str, Any]) -> tuple[str, list[Any]]:
        params = SamplingParams(**{k: v for k, v in case.items() if k not in ("prompt",)})
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # como el servidor (TORCH_THREADS=1)
        try:
            chars = list(stream_generate(model, tokenizer, case["prompt"], params))
        finally:
            torch.set_num_threads(threads)
        top = [[{"char": c, "prob": p} for c, p in ch.top] for ch in chars]
        return "".join(ch.text for ch in chars), top

    return _solo


def post_case(srv: ServerProcess, case: dict[str, Any], stream: bool) -> tuple[str, Any]:
    """(texto, detalle por carácter o None) de una petición, en JSON o en SSE."""
    resp = requests.post(
        srv.url("/generate"), json={**case, "stream": stream}, stream=stream, timeout=120
    )
    assert resp.status_code == 200, resp.text
    if not stream:
        body = resp.json()
        return body["text"], [c["top"] for c in body["chars"]] if "chars" in body else None
    events = read_sse(resp)
    assert events[-1][0] == "done", events[-1]
    chunks = [data for name, data in events if name == "message"]
    text = "".join(c["text"] for c in chunks)
    assert events[-1][1]["text"] == text  # el resumen final cuenta lo mismo que los trozos
    top = [c["top"] for c in chunks] if chunks and "top" in chunks[0] else None
    return text, top


def run_together(srv: ServerProcess, cases: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Lanza todas las peticiones a la vez (una por hilo) y devuelve sus resultados."""
    results: list[Any] = [None] * len(cases)
    barrier = threading.Barrier(len(cases))

    def client(i: int) -> None:
        barrier.wait()
        try:
            results[i] = post_case(srv, cases[i], stream=i in STREAMED)
        except BaseException as exc:  # se comprueba en el hilo principal
            results[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    errors = [r for r in results if isinstance(r, BaseException) or r is None]
    assert not errors, errors
    return results


def test_concurrent_requests_each_get_their_solo_text(batch_server: ServerProcess, solo) -> None:
    before = batch_steps_with_more_rows_than(batch_server, 1)
    results = run_together(batch_server, CASES)
    for case, (text, top) in zip(CASES, results, strict=True):
        expected, expected_top = solo(case)
        assert text == expected, case
        assert len(text) == case["max_new_tokens"]
        if case.get("top_probs"):
            assert top == expected_top, case
    assert results[8][0] == results[9][0]  # misma petición, mismo texto, en el mismo lote
    assert batch_steps_with_more_rows_than(batch_server, 1) > before  # de verdad generaron juntas
    # Cada petición deja el lote al terminar.
    batch_server.wait_until(
        lambda: metric(batch_server, "llm_batch_rows_active") == 0, what="lote vacío al final"
    )


def test_requests_joining_mid_generation(batch_server: ServerProcess, solo) -> None:
    # A genera mucho en streaming; B y C llegan cuando A ya va por la mitad de su ventana y
    # entran en el lote en un paso cualquiera, en posiciones distintas de las de A.
    a_case = {"prompt": "Hola", "max_new_tokens": 3000, "temperature": 0.9, "seed": 21}
    b_case = {"prompt": "El mar", "max_new_tokens": 200, "top_k": 10, "seed": 22}
    c_case = {"prompt": LONG_PROMPT, "max_new_tokens": 150, "temperature": 0, "seed": 23}
    received: list[str] = []
    outcome: dict[str, Any] = {}

    def read_a() -> None:
        try:
            resp = requests.post(
                batch_server.url("/generate"), json={**a_case, "stream": True}, stream=True,
                timeout=120,
            )  # fmt: skip
            for name, data in iter_sse(resp.iter_lines(decode_unicode=True)):
                if name == "message":
                    received.append(data["text"])
                elif name == "done":
                    outcome["done"] = data
        except BaseException as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=read_a)
    reader.start()
    try:
        batch_server.wait_until(lambda: len(received) >= 20, what="A ya está generando")
        b_text, _ = post_case(batch_server, b_case, stream=False)
        a_when_b_done = len(received)
        batch_server.wait_until(lambda: len(received) >= a_when_b_done + 37, what="A sigue")
        c_text, _ = post_case(batch_server, c_case, stream=True)
        a_when_c_done = len(received)
    finally:
        reader.join(timeout=180)
    assert "error" not in outcome, outcome
    assert b_text == solo(b_case)[0]
    assert c_text == solo(c_case)[0]
    assert "".join(received) == solo(a_case)[0]
    # B y C terminaron mientras A seguía generando: compartieron lote con A.
    assert a_when_b_done < a_when_c_done < a_case["max_new_tokens"]


def test_completions_with_several_choices_join_the_batch(batch_server: ServerProcess, solo) -> None:
    # Una generación larguísima (L) ocupa el lote; mientras sigue, llegan a la vez dos
    # peticiones /v1/completions con n=2. Con lotes, cada carácter de sus 4 muestras sale en un
    # paso compartido con L: al menos 2 × 70 pasos con 2 filas o más. Sin lotes (BATCHING=0)
    # los textos serían los mismos, pero ningún paso tendría compañía.
    body = {"prompt": "Hola", "max_tokens": 70, "temperature": 0.8, "top_p": 0.9}
    before = batch_steps_with_more_rows_than(batch_server, 1)
    long = requests.post(
        batch_server.url("/generate"),
        json={"prompt": "Hola", "max_new_tokens": 1_000_000, "stream": True, "seed": 39},
        stream=True, timeout=60,
    )  # fmt: skip
    results: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def client(i: int) -> None:
        barrier.wait()
        results[i] = requests.post(
            batch_server.url("/v1/completions"), json={**body, "n": 2, "seed": 40 + 10 * i},
            timeout=120,
        )  # fmt: skip

    try:
        assert long.status_code == 200
        events = iter_sse(long.iter_lines(decode_unicode=True))
        assert next(events)[0] == "message"  # L ya genera dentro del lote
        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert next(events)[0] == "message"  # L sigue generando: no terminó antes que ellas
    finally:
        long.close()  # el cliente se va: L sale del lote
    for i, resp in enumerate(results):
        assert resp is not None and resp.status_code == 200, resp
        choices = resp.json()["choices"]
        assert len(choices) == 2
        for j, choice in enumerate(choices):
            case = {"prompt": "Hola", "max_new_tokens": 70, "temperature": 0.8, "top_p": 0.9}
            assert choice["text"] == solo({**case, "seed": 40 + 10 * i + j})[0]
    assert batch_steps_with_more_rows_than(batch_server, 1) - before >= 2 * 70
    batch_server.wait_until(
        lambda: metric(batch_server, "llm_batch_rows_active") == 0, what="lote vacío al final"
    )


def test_server_text_matches_cli_under_load(batch_server: ServerProcess, checkpoint: Path) -> None:
    case = CASES[4]  # la de la ventana que salta, con top-k y top-p
    results = run_together(batch_server, [case, *CASES[:3]])
    cli = subprocess.run(
        [sys.executable, "-m", "trainer.generate", "--ckpt", str(checkpoint),
         "--prompt", case["prompt"], "--max-new-tokens", str(case["max_new_tokens"]),
         "--temperature", str(case["temperature"]), "--top-k", str(case["top_k"]),
         "--top-p", str(case["top_p"]), "--seed", str(case["seed"]), "--device", "cpu"],
        cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout == case["prompt"] + results[0][0] + "\n"


def test_client_disconnect_frees_slot_and_row(batch_server: ServerProcess) -> None:
    chars_before = metric(batch_server, "llm_generated_chars_total")
    # Cuatro generaciones de un millón de caracteres (horas): los clientes se van enseguida.
    streams = []
    for seed in range(4):
        resp = requests.post(
            batch_server.url("/generate"),
            json={"prompt": "Hola", "max_new_tokens": 1_000_000, "stream": True, "seed": seed},
            stream=True, timeout=60,
        )  # fmt: skip
        assert resp.status_code == 200
        lines = resp.iter_lines()
        assert next(lines).startswith(b"data:")
        streams.append((resp, lines))
    assert metric(batch_server, "llm_batch_rows_active") >= 1
    for resp, _lines in streams:
        resp.close()
    batch_server.wait_until(
        lambda: (
            metric(batch_server, "llm_batch_rows_active") == 0
            and metric(batch_server, "llm_generations_in_progress") == 0
        ),
        timeout=30,
        what="las filas abandonadas salen del lote y liberan su plaza",
    )
    # Pararon pronto: ni de lejos los 4 millones de caracteres pedidos.
    assert metric(batch_server, "llm_generated_chars_total") - chars_before < 200_000
    # Las 16 plazas vuelven a estar libres: 16 peticiones a la vez, ningún 429.
    results = run_together(batch_server, [{**CASES[0], "seed": 100 + i} for i in range(16)])
    assert all(len(text) == CASES[0]["max_new_tokens"] for text, _ in results)


def test_batching_off_generates_alone_with_the_same_text(
    checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory, solo
) -> None:
    srv = ServerProcess(
        tmp_path_factory.mktemp("servidor-sin-lotes"),
        CHECKPOINT_DIR=str(checkpoint_dir),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="8",
        MAX_CONCURRENT_GENERATIONS="4",
        RELOAD_INTERVAL="0",
        BATCHING="0",
    ).start()
    with srv:
        srv.wait_for_log("modelo cargado")
        cases = [CASES[0], CASES[1], CASES[4], CASES[6]]
        results = run_together(srv, cases)
        for case, (text, _top) in zip(cases, results, strict=True):
            assert text == solo(case)[0]
        assert metric(srv, "llm_batch_rows_count") == 0  # nadie pasó por el motor de lotes
        assert "generación por lotes: no" in srv.log()


def test_invalid_batching_value_stops_the_server(tmp_path: Path) -> None:
    env = python_env(CHECKPOINT_DIR=str(tmp_path), PORT="0", WEB_CONCURRENCY="1", BATCHING="sí")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0, time.monotonic() - t0
    assert "BATCHING debe ser 0 o 1 (recibido: 'sí')" in proc.stdout + proc.stderr

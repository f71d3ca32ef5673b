"""Salidas de referencia ("golden") de dos checkpoints entrenados: nada cambia al reorganizar.

``tests/golden/`` guarda un GPT del tamaño por defecto (128/4/2, block_size 128) y un bigrama,
entrenados 300 pasos con ``python -m trainer``, y ``golden.json``: los textos con semilla que
daban la CLI real (``python -m trainer.generate``) y el servidor real (gunicorn, BATCHING=1;
cada petición sola y 16 a la vez) y los logits del modelo en unas cuantas posiciones, con y sin
caché KV. Se grabaron con el código anterior a separar la lección del motor de inferencia:

    PYTHONPATH=. .venv/bin/python tests/server/test_golden.py --record

Después de cualquier cambio, los textos deben ser idénticos y los logits iguales con 1e-5.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import torch

from shared.checkpoints.files import load_model
from tests.helpers.cli import ROOT
from tests.helpers.server import ServerProcess, python_env

GOLDEN = ROOT / "tests" / "golden"
MODELS = ("gpt", "bigram")
LONG_PROMPT = (
    "En Puerto Lindero las casas se apretaban contra la ladera como si temieran que el mar las "
    "arrastrara una noche cualquiera. Eran blancas, de ventanas azules y puertas"
)  # 150 caracteres: más que el block_size (128), se recorta
# 16 peticiones: distintos ajustes, prompts vacíos, cortos y largos, y textos más largos que el
# block_size (la ventana de contexto salta). Van todas a la vez al servidor.
CASES: list[dict[str, Any]] = [
    {"prompt": "Hola", "max_new_tokens": 200, "temperature": 0.8, "top_k": 50, "seed": 1},
    {"prompt": "", "max_new_tokens": 150, "seed": 2},
    {"prompt": "El mar", "max_new_tokens": 180, "temperature": 0, "seed": 3},
    {"prompt": LONG_PROMPT, "max_new_tokens": 120, "temperature": 1.1, "top_p": 0.8, "seed": 4},
    {"prompt": "de la", "max_new_tokens": 400, "temperature": 0.9, "top_k": 5, "top_p": 0.9,
     "seed": 5},
    {"prompt": "a", "max_new_tokens": 1, "seed": 6},
    {"prompt": "Aurelio", "max_new_tokens": 260, "temperature": 1.3, "seed": 7},
    {"prompt": "Aurelio", "max_new_tokens": 260, "temperature": 1.3, "seed": 7},
    {"prompt": "casas blancas", "max_new_tokens": 90, "temperature": 0.5, "seed": 8},
    {"prompt": "", "max_new_tokens": 300, "temperature": 0.7, "top_p": 0.95, "seed": 9},
    {"prompt": "La red", "max_new_tokens": 130, "temperature": 1.0, "top_k": 1, "seed": 10},
    {"prompt": "puertas", "max_new_tokens": 70, "temperature": 2.0, "seed": 11},
    {"prompt": "Tenía", "max_new_tokens": 220, "temperature": 0.6, "top_k": 10, "seed": 12},
    {"prompt": "mar", "max_new_tokens": 50, "temperature": 1e-6, "seed": 13},
    {"prompt": "noche", "max_new_tokens": 140, "top_p": 0.5, "seed": 14},
    {"prompt": "Eran", "max_new_tokens": 330, "temperature": 0.9, "seed": 2**40},
]  # fmt: skip
# La CLI arranca un proceso por muestra: unas pocas, una de ellas sin caché KV.
CLI_CASES: list[dict[str, Any]] = [
    CASES[0],
    CASES[2],
    CASES[3],
    CASES[4],
    {**CASES[6], "no_cache": True},
    {"prompt": "Hola", "max_new_tokens": 150, "temperature": 0.8, "top_k": 50, "seed": 21,
     "num_samples": 2},
]  # fmt: skip
LOGIT_TEXT = LONG_PROMPT[:128]
LOGIT_POSITIONS = [0, 1, 9, 10, 33, 64, 127]
CACHE_PREFILL = 10  # con caché: se lee el prompt de 10 caracteres y luego de uno en uno


def checkpoint(name: str) -> Path:
    return GOLDEN / name / f"{name}.pt"


def cli_text(name: str, case: dict[str, Any]) -> str:
    args = [
        sys.executable, "-m", "trainer.generate", "--ckpt", str(checkpoint(name)),
        "--device", "cpu", "--prompt", case["prompt"],
        "--max-new-tokens", str(case["max_new_tokens"]),
        "--temperature", str(case.get("temperature", 1.0)), "--top-k", str(case.get("top_k", 0)),
        "--top-p", str(case.get("top_p", 1.0)), "--seed", str(case["seed"]),
        "--num-samples", str(case.get("num_samples", 1)),
    ]  # fmt: skip
    if case.get("no_cache"):
        args.append("--no-cache")
    env = python_env(OMP_NUM_THREADS="1", LLM_NO_PROGRESS="1")
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def logits_at(name: str) -> dict[str, list[list[float]]]:
    """Logits en LOGIT_POSITIONS: una pasada entera, y con caché KV carácter a carácter."""
    model, tokenizer, _ = load_model(checkpoint(name), torch.device("cpu"))
    ids = torch.tensor([tokenizer.encode(LOGIT_TEXT)])
    with torch.inference_mode():
        full = model(ids)[0][0]
        out = {"full": [full[p].tolist() for p in LOGIT_POSITIONS]}
        if name == "gpt":
            cache = model.new_kv_cache(1, torch.device("cpu"))
            steps = [model(ids[:, :CACHE_PREFILL], kv_cache=cache)[0][0]]
            for i in range(CACHE_PREFILL, ids.size(1)):
                steps.append(model(ids[:, i : i + 1], kv_cache=cache)[0][0])
            cached = torch.cat(steps)
            out["cached"] = [cached[p].tolist() for p in LOGIT_POSITIONS]
    return out


def server_texts(name: str, workdir: Path) -> dict[str, list[str]]:
    """Los 16 casos al servidor real: primero de uno en uno, luego los 16 a la vez."""
    srv = ServerProcess(
        workdir,
        CHECKPOINT_DIR=str(GOLDEN / name),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="24",
        TORCH_THREADS="1",
        MAX_CONCURRENT_GENERATIONS="16",
        MAX_NEW_TOKENS="100000",
        MAX_PROMPT_CHARS="500",
        RELOAD_INTERVAL="0",
        BATCHING="1",
    )

    def post(case: dict[str, Any]) -> str:
        resp = requests.post(srv.url("/generate"), json=case, timeout=300)
        assert resp.status_code == 200, resp.text
        return resp.json()["text"]

    with srv.start():
        srv.wait_for_log("modelo cargado")
        solo = [post(case) for case in CASES]
        together: list[str] = [""] * len(CASES)
        start = threading.Barrier(len(CASES))

        def worker(i: int) -> None:
            start.wait()
            together[i] = post(CASES[i])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(CASES))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {"solo": solo, "together": together}


def load_golden() -> dict[str, Any]:
    return json.loads((GOLDEN / "golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", MODELS)
def test_cli_texts_are_the_recorded_ones(name: str) -> None:
    golden = load_golden()[name]["cli"]
    for case, expected in zip(CLI_CASES, golden, strict=True):
        assert cli_text(name, case) == expected, case


@pytest.mark.parametrize("name", MODELS)
def test_logits_are_the_recorded_ones(name: str) -> None:
    golden = load_golden()[name]["logits"]
    got = logits_at(name)
    assert got.keys() == golden.keys()
    for kind, rows in golden.items():
        torch.testing.assert_close(
            torch.tensor(got[kind]), torch.tensor(rows), rtol=0, atol=1e-5, msg=kind
        )


@pytest.mark.parametrize("name", MODELS)
def test_server_texts_are_the_recorded_ones(name: str, tmp_path: Path) -> None:
    golden = load_golden()[name]["server"]
    got = server_texts(name, tmp_path)
    assert got["solo"] == golden["solo"]
    assert got["together"] == golden["together"]


def record() -> None:
    import tempfile

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    for name in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            server = server_texts(name, Path(tmp))
        assert server["solo"] == server["together"], name
        out[name] = {
            "cli": [cli_text(name, case) for case in CLI_CASES],
            "logits": logits_at(name),
            "server": server,
        }
    text = json.dumps(out, ensure_ascii=False, indent=1)
    (GOLDEN / "golden.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    record()

"""Un bigrama, un GPT de caracteres y un GPT BPE servidos a la vez (gunicorn real, un worker):
/v1/models, /info, /generate (JSON y SSE), /v1/completions y /attention con el modelo BPE, y
un checkpoint con una tabla de fusiones mala, descartado como cualquier otro."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from shared.checkpoints.files import load_model
from shared.engine.batch import generate
from shared.sampling import SamplingParams
from tests.helpers.checkpoints import DATA
from tests.helpers.cli import TINY_GPT_ARGS, run_module
from tests.helpers.server import ServerProcess, one_worker
from tests.helpers.sse import read_sse

PROMPT = "Había una vez un niño"
GEN = {"prompt": PROMPT, "max_new_tokens": 40, "temperature": 1.0, "seed": 5, "model": "bpe"}


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """El bigrama y el GPT de caracteres de ``models_dir``, un GPT BPE recién entrenado (el
    último: el de por defecto) y, aún más nuevo, una copia suya con una fusión imposible."""
    d = tmp_path_factory.mktemp("bpe-servidor")
    shutil.copy(models_dir / "bigrama.pt", d / "bigrama.pt")
    shutil.copy(models_dir / "gpt-a.pt", d / "gpt-char.pt")
    run_module(
        "trainer", *TINY_GPT_ARGS, "--tokenizer", "bpe", "--vocab-size", "320",
        "--data", str(DATA), "--max-steps", "20", "--checkpoint-dir", str(d),
        "--run-name", "bpe", "--seed", "1337", timeout=300, check=True,
    )  # fmt: skip
    raw = torch.load(d / "bpe.pt", weights_only=True)
    raw["vocab"]["merges"][0] = [1, 999]
    time.sleep(0.05)  # llega después: el servidor lo prueba primero y lo descarta
    torch.save(raw, d / "mala.pt")
    return d


@pytest.fixture(scope="module")
def srv(bpe_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with one_worker(tmp_path_factory.mktemp("srv-bpe"), bpe_dir) as proc:
        yield proc


def test_three_kinds_side_by_side_and_the_bad_merge_table_skipped(srv: ServerProcess) -> None:
    models = {m["id"]: m for m in srv.get("/v1/models").json()["data"]}
    assert {k: (m["type"], m["tokenizer"]) for k, m in models.items()} == {
        "bigrama": ("bigram", "char"),
        "gpt-char": ("gpt", "char"),
        "bpe": ("gpt", "bpe"),
    }
    info = srv.get("/info").json()
    assert info["model"]["name"] == "bpe"
    assert info["vocab"] == {"size": 320, "chars": [], "tokenizer": "bpe"}
    rejected = {r["file"]: r["reason"] for r in info["rejected_checkpoints"]}
    assert "fusión 0" in rejected["mala.pt"]
    for model in ("bigrama", "gpt-char", "bpe"):
        r = srv.post("/generate", {**GEN, "model": model, "prompt": "Hola"})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["generated_tokens"] == 40


def test_generate_json_counts_tokens_and_matches_the_engine(srv: ServerProcess, bpe_dir: Path):
    body = srv.post("/generate", GEN).json()
    model, tokenizer, _ = load_model(bpe_dir / "bpe.pt")
    params = SamplingParams(max_new_tokens=40, temperature=1.0, seed=5)
    expected = generate(model, tokenizer, PROMPT, params)
    assert body["text"] == expected.text == tokenizer.decode(expected.token_ids)
    usage = body["usage"]
    assert usage["generated_tokens"] == 40  # max_new_tokens cuenta tokens
    assert usage["generated_chars"] == len(body["text"])
    assert usage["prompt_chars"] == len(PROMPT)
    assert usage["prompt_tokens"] == len(tokenizer.encode(PROMPT)) < len(PROMPT)
    assert body["timings"]["tokens_per_second"] > 0


def test_sse_never_splits_a_character_and_shows_tokens(srv: ServerProcess, bpe_dir: Path):
    whole = srv.post("/generate", GEN).json()["text"]
    with srv.post("/generate", {**GEN, "stream": True, "top_probs": 5}, stream=True) as r:
        events = read_sse(r)
    chunks = [data for name, data in events if name == "message"]
    assert len(chunks) == 40
    # Los trozos, juntos, son el texto del JSON: ninguno llevaba medio carácter (saldría «�»).
    assert "".join(c["text"] for c in chunks) == whole
    _, tokenizer, _ = load_model(bpe_dir / "bpe.pt")
    labels = {tokenizer.token_text(i) for i in range(tokenizer.vocab_size)}
    for c in chunks:
        assert c["token"] in labels
        assert all(t["char"] in labels and " " not in t["char"] for t in c["top"])
    done = next(data for name, data in events if name == "done")
    assert done["usage"]["generated_tokens"] == 40


def test_completions_json_and_stream_agree(srv: ServerProcess) -> None:
    req = {"model": "bpe", "prompt": PROMPT, "max_tokens": 30, "seed": 9}
    body = srv.post("/v1/completions", req).json()
    assert body["usage"]["completion_tokens"] == 30
    with srv.post("/v1/completions", {**req, "stream": True}, stream=True) as r:
        events = read_sse(r)
    texts = [d["choices"][0]["text"] for _, d in events if isinstance(d, dict)]
    assert all(texts[:-1])  # nunca un trozo vacío a medias (el último cierra con "length")
    assert "".join(texts) == body["choices"][0]["text"]


def test_attention_labels_are_visible_tokens(srv: ServerProcess) -> None:
    r = srv.post("/attention", {"prompt": PROMPT, "model": "bpe"})
    assert r.status_code == 200, r.text
    labels = r.json()["chars"]
    assert len(labels) < len(PROMPT)  # un token por trozo de palabra, no por carácter
    assert "".join(labels).replace("·", " ") == PROMPT
    assert r.json()["layers"][0][0][0][0] == pytest.approx(1.0)

"""Varios checkpoints en CHECKPOINT_DIR: GET /v1/models, elegir con "model", POST /attention,
las métricas de cada ejecución y el tope LRU de modelos cargados (gunicorn real, un worker)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from server.settings import Settings
from shared.attention_map import attention_map
from shared.checkpoint import load_model
from tests.helpers.cli import ROOT
from tests.helpers.server import ServerProcess, assert_error, python_env

GEN = {"prompt": "Hola", "max_new_tokens": 60, "temperature": 0.9, "seed": 11}


@pytest.fixture(scope="module")
def srv(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("srv-modelos"),
        CHECKPOINT_DIR=str(models_dir),
        WEB_CONCURRENCY="1",  # un solo worker: "loaded" describe la caché de todo el servidor
        TORCH_THREADS="1",
        RELOAD_INTERVAL="0",
    )
    with proc.start():
        proc.wait_for_log(r"modelo cargado")
        yield proc


def listing(srv: ServerProcess) -> dict[str, dict]:
    body = srv.get("/v1/models").json()
    assert body["object"] == "list"
    return {m["id"]: m for m in body["data"]}


def test_models_lists_every_checkpoint_in_openai_shape(srv: ServerProcess) -> None:
    models = listing(srv)
    assert set(models) == {"gpt-a", "copia-1", "copia-2", "copia-3", "bigrama", "gpt-b"}
    for m in models.values():
        assert m["object"] == "model" and m["owned_by"] and isinstance(m["created"], int)
    assert models["gpt-a"]["type"] == "gpt" and models["gpt-a"]["step"] == 40
    assert models["bigrama"]["type"] == "bigram" and models["bigrama"]["step"] == 30
    assert models["gpt-b"]["step"] == 10 and isinstance(models["gpt-b"]["val_loss"], float)
    assert [m["id"] for m in models.values() if m["default"]] == ["gpt-b"]
    # Sin "model", se sigue usando el último utilizable.
    assert srv.post("/generate", GEN).json()["model"]["step"] == 10


def cli_text(ckpt: Path) -> str:
    cmd = [
        sys.executable, "-m", "trainer.generate", "--ckpt", str(ckpt), "--prompt", "Hola",
        "--max-new-tokens", "60", "--temperature", "0.9", "--seed", "11", "--device", "cpu",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=python_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout[len("Hola") : -1]


def test_same_seed_two_models_each_equal_to_the_cli(srv: ServerProcess, models_dir: Path) -> None:
    texts = {}
    for name in ("gpt-a", "bigrama"):
        resp = srv.post("/generate", {**GEN, "model": name})
        assert resp.status_code == 200, resp.text
        texts[name] = resp.json()["text"]
        assert texts[name] == cli_text(models_dir / f"{name}.pt")
    assert texts["gpt-a"] != texts["bigrama"]
    completion = srv.post(
        "/v1/completions",
        {"model": "bigrama", "prompt": "Hola", "max_tokens": 60, "temperature": 0.9, "seed": 11},
    )
    assert completion.json()["choices"][0]["text"] == texts["bigrama"]


@pytest.mark.parametrize(
    "name", ["no-existe", "../gpt-a", "gpt-a.pt", "./gpt-a", "/etc/passwd", "GPT-A", ""]
)
def test_unknown_and_path_like_names_are_refused(
    srv: ServerProcess, models_dir: Path, name: str
) -> None:
    for path, body in (
        ("/generate", {**GEN, "model": name}),
        ("/v1/completions", {"model": name, "prompt": "Hola", "max_tokens": 5}),
        ("/attention", {"model": name, "prompt": "Hola"}),
    ):
        err = assert_error(srv.post(path, body), 404, "not_found", "model")
        assert "no hay ningún modelo llamado" in err["message"], err
    absolute = str(models_dir / "gpt-a.pt")
    assert_error(srv.post("/generate", {**GEN, "model": absolute}), 404, "not_found", "model")


def test_loaded_models_are_bounded_least_recently_used_out(srv: ServerProcess) -> None:
    order = ["copia-1", "copia-2", "copia-3", "copia-1"]
    for name in order:
        assert srv.post("/generate", {**GEN, "model": name}).status_code == 200
    models = listing(srv)
    loaded = sorted(k for k, m in models.items() if m["loaded"] and not m["default"])
    assert len(loaded) <= Settings().max_extra_models == 2
    # copia-1 se volvió a usar (vuelve a entrar), copia-3 es la anterior; copia-2 salió.
    assert loaded == ["copia-1", "copia-3"]
    assert "modelo descargado de la memoria (LRU): 'copia-2.pt'" in srv.log()


def test_attention_matches_the_lesson_code(srv: ServerProcess, models_dir: Path) -> None:
    resp = srv.post("/attention", {"prompt": "Hola, qué tal", "model": "gpt-a"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["chars"] == list("Hola, qué tal") and body["model"]["step"] == 40
    model, tok, _ = load_model(models_dir / "gpt-a.pt")
    expected = attention_map(model, tok, "Hola, qué tal").layers
    assert torch.allclose(torch.tensor(body["layers"]), torch.tensor(expected), atol=1e-6)
    for head in body["layers"][0]:
        for i, row in enumerate(head):
            assert sum(row) == pytest.approx(1.0, abs=1e-5) and not any(row[i + 1 :])


def test_attention_errors(srv: ServerProcess) -> None:
    err = assert_error(
        srv.post("/attention", {"prompt": "Hola", "model": "bigrama"}),
        422, "validation_error", "model",
    )  # fmt: skip
    assert "no tiene atención" in err["message"]
    err = assert_error(
        srv.post("/attention", {"prompt": "a" * 33}), 422, "validation_error", "prompt"
    )
    assert "máximo 32" in err["message"]
    assert_error(srv.post("/attention", {}), 422, "validation_error", "prompt")
    assert_error(srv.post("/attention", {"prompt": "Hola", "x": 1}), 422, "validation_error", "x")
    doc = srv.get("/openapi.json").json()
    assert {"/attention", "/v1/models", "/v1/models/{model_id}/metrics"} <= set(doc["paths"])
    assert doc["components"]["schemas"]["AttentionRequest"]["properties"]["prompt"]["maxLength"]


def test_metrics_are_the_jsonl_points_and_follow_the_trainer(
    srv: ServerProcess, models_dir: Path
) -> None:
    jsonl = models_dir / "tiny.metrics.jsonl"
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    body = srv.get("/v1/models/gpt-a/metrics").json()
    assert body["id"] == "gpt-a" and body["points"] == lines and lines
    # El entrenador sigue escribiendo: un punto nuevo (y una línea a medias) se ven al momento.
    with jsonl.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"step": 999, "val_loss": 1.5}) + "\n")
        f.write('{"step": 1000, "val_loss": NaN}\n{"step": 10')  # NaN: no es JSON estándar
    resp = srv.get("/v1/models/gpt-a/metrics")
    points = json.loads(resp.text, parse_constant=pytest.fail)  # JSON estricto, sin NaN
    assert points["points"][-2:] == [
        {"step": 999, "val_loss": 1.5},
        {"step": 1000, "val_loss": None},
    ]
    assert len(points["points"]) == len(lines) + 2
    assert srv.get("/v1/models/bigrama/metrics").json()["points"]
    assert srv.get("/v1/models/../gpt-a/metrics").status_code == 404
    assert_error(srv.get("/v1/models/tiny.metrics/metrics"), 404, "not_found", "model")

"""Varios checkpoints en CHECKPOINT_DIR: GET /v1/models, elegir con "model", POST /attention,
las métricas de cada ejecución y el tope LRU de modelos cargados (gunicorn real, un worker)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from server.settings import Settings
from shared.checkpoints.files import load_checkpoint, load_model, save_checkpoint
from shared.engine.attention_map import attention_map
from tests.helpers.cli import ROOT
from tests.helpers.server import ServerProcess, assert_error, one_worker, python_env

GEN = {"prompt": "Hola", "max_new_tokens": 60, "temperature": 0.9, "seed": 11}


@pytest.fixture(scope="module")
def srv(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Un solo worker: "loaded" describe la caché de todo el servidor.
    with one_worker(tmp_path_factory.mktemp("srv-modelos"), models_dir) as proc:
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


# --- Un modelo por carpeta: checkpoints/gpt servida, checkpoints/bigram a su lado ------------


@pytest.fixture(scope="module")
def class_srv(
    class_dirs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """``make serve`` tras ``make train`` y ``make train-bigram``: sirve checkpoints/gpt."""
    with one_worker(tmp_path_factory.mktemp("srv-clase"), class_dirs) as proc:
        yield proc


def test_sibling_model_folder_is_listed_with_its_own_ids(class_srv: ServerProcess) -> None:
    models = listing(class_srv)
    # El mismo nombre de fichero en las dos carpetas, dos ids distintos.
    assert list(models) == ["clase", "bigram:clase"]
    assert models["clase"]["type"] == "gpt" and models["clase"]["step"] == 40
    assert models["bigram:clase"]["type"] == "bigram" and models["bigram:clase"]["step"] == 30
    assert [k for k, m in models.items() if m["default"]] == ["clase"]
    assert class_srv.post("/generate", GEN).json()["model"]["type"] == "gpt"
    enum = class_srv.get("/openapi.json").json()["components"]["schemas"]["GenerateRequest"]
    assert "bigram:clase" in json.dumps(enum)


def test_bigram_vs_gpt_same_seed_each_equal_to_the_cli(
    class_srv: ServerProcess, class_dirs: Path
) -> None:
    texts = {}
    paths = {
        "clase": class_dirs / "clase.pt",
        "bigram:clase": class_dirs.parent / "bigram/clase.pt",
    }
    for model_id, ckpt in paths.items():
        resp = class_srv.post("/generate", {**GEN, "model": model_id})
        assert resp.status_code == 200, resp.text
        assert resp.json()["model"]["type"] == ("gpt" if model_id == "clase" else "bigram")
        texts[model_id] = resp.json()["text"]
        assert texts[model_id] == cli_text(ckpt)
    assert texts["clase"] != texts["bigram:clase"]
    completion = class_srv.post(
        "/v1/completions",
        {"model": "bigram:clase", "prompt": "Hola", "max_tokens": 60, "temperature": 0.9,
         "seed": 11},
    )  # fmt: skip
    assert completion.json()["choices"][0]["text"] == texts["bigram:clase"]
    # La curva del bigrama sale de su carpeta (bigrama.metrics.jsonl, su nombre de ejecución).
    jsonl = class_dirs.parent / "bigram" / "bigrama.metrics.jsonl"
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert class_srv.get("/v1/models/bigram:clase/metrics").json()["points"] == lines


@pytest.mark.parametrize(
    "name",
    ["bigram/clase", "../bigram/clase", "bigram:../gpt/clase", "bigram:clase.pt", "gpt:clase",
     "bigram:", "bigram:no-existe", "BIGRAM:clase", "bigram::clase"],
)  # fmt: skip
def test_sibling_path_like_and_unknown_names_are_refused(
    class_srv: ServerProcess, class_dirs: Path, name: str
) -> None:
    resp = class_srv.post("/generate", {**GEN, "model": name})
    err = assert_error(resp, 404, "not_found", "model")
    assert "no hay ningún modelo llamado" in err["message"], err
    assert class_srv.get(f"/v1/models/{name}/metrics").status_code == 404
    absolute = str(class_dirs.parent / "bigram" / "clase.pt")
    assert_error(class_srv.post("/generate", {**GEN, "model": absolute}), 404, "not_found", "model")


def test_sibling_folder_new_and_broken_checkpoints(
    class_srv: ServerProcess, class_dirs: Path
) -> None:
    bigram = class_dirs.parent / "bigram"
    shutil.copy(bigram / "clase.pt", bigram / "nuevo.pt")  # el entrenador deja otro
    (bigram / "roto.pt").write_bytes(b"esto no es un checkpoint")
    # Se lee bien (metadatos y pesos finitos) pero sus salidas desbordan: falla al cargarse.
    ckpt = load_checkpoint(class_dirs / "clase.pt")
    ckpt.state_dict = {k: torch.full_like(v, 1e30) for k, v in ckpt.state_dict.items()}
    save_checkpoint(ckpt, bigram / "nan.pt")
    try:
        models = listing(class_srv)  # sin reiniciar, y sin RELOAD_INTERVAL
        assert list(models) == ["clase", "bigram:nan", "bigram:nuevo", "bigram:clase"]
        assert "no se lista como modelo" in class_srv.log() and "roto.pt" in class_srv.log()
        assert_error(class_srv.post("/generate", {**GEN, "model": "bigram:roto"}), 404,
                     "not_found", "model")  # fmt: skip
        # Como en CHECKPOINT_DIR: el que falla al cargarse se anota y deja de listarse.
        err = assert_error(
            class_srv.post("/generate", {**GEN, "model": "bigram:nan"}), 404, "not_found", "model"
        )
        assert "no se puede cargar" in err["message"] and "salidas inválidas" in err["message"]
        assert "checkpoint descartado" in class_srv.log()
        assert list(listing(class_srv)) == ["clase", "bigram:nuevo", "bigram:clase"]
        resp = class_srv.post("/generate", {**GEN, "model": "bigram:nuevo"})
        assert resp.status_code == 200 and resp.json()["model"]["type"] == "bigram"
        assert listing(class_srv)["clase"]["default"]  # el de por defecto no cambia
    finally:
        for name in ("nuevo.pt", "roto.pt", "nan.pt"):
            (bigram / name).unlink(missing_ok=True)
    assert list(listing(class_srv)) == ["clase", "bigram:clase"]

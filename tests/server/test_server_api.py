"""Cada ruta del servidor real (gunicorn en loopback) con peticiones válidas."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.checkpoints.files import load_checkpoint
from tests.helpers.cli import ROOT
from tests.helpers.server import PROMPT, ServerProcess, python_env
from tests.helpers.sse import read_sse

BASE = {"prompt": PROMPT, "max_new_tokens": 80, "temperature": 0.8, "top_k": 20, "seed": 7}


def test_health_and_ready(server: ServerProcess) -> None:
    assert server.get("/health").json() == {"status": "ok"}
    ready = server.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["model"]["step"] == 40


def test_info_describes_model_vocab_and_limits(server: ServerProcess, checkpoint: Path) -> None:
    info = server.get("/info").json()
    ckpt = load_checkpoint(checkpoint)
    assert info["ready"] is True
    assert info["model"]["name"] == "tiny" and info["model"]["type"] == "gpt"
    assert info["model"]["step"] == ckpt.step
    assert info["model"]["val_loss"] == pytest.approx(ckpt.val_loss)
    assert info["model"]["file"] == "tiny.pt"
    assert info["model"]["config"]["n_embd"] == 32
    assert info["vocab"]["chars"] == ckpt.tokenizer.chars
    assert info["vocab"]["size"] == ckpt.tokenizer.vocab_size
    assert info["block_size"] == 32
    assert info["limits"]["max_new_tokens"] == 300
    assert info["limits"]["max_prompt_chars"] == 200
    assert info["auth_required"] is False


def test_generate_returns_text_model_usage_timings(server: ServerProcess, checkpoint: Path) -> None:
    resp = server.post("/generate", BASE)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert len(body["text"]) == 80
    val_loss = load_checkpoint(checkpoint).val_loss
    assert val_loss is not None and val_loss > 0  # el de la evaluación del paso 40
    assert body["model"] == {
        "name": "tiny", "type": "gpt", "step": 40, "val_loss": pytest.approx(val_loss)
    }  # fmt: skip
    # Con caracteres, un token por carácter: las dos cuentas coinciden.
    assert body["usage"] == {
        "prompt_chars": len(PROMPT), "generated_chars": 80,
        "prompt_tokens": len(PROMPT), "generated_tokens": 80,
    }  # fmt: skip
    assert body["timings"]["total_ms"] > 0 and body["timings"]["chars_per_second"] > 0
    assert body["seed"] == 7
    assert "chars" not in body


def test_same_seed_same_text_on_every_worker(server: ServerProcess) -> None:
    # gunicorn no reparte por turnos: se piden tandas de 4 a la vez hasta que los dos workers
    # han respondido (el registro de accesos dice qué pid atendió cada una), con un tope.
    texts: dict[int, set[str]] = {}
    for batch in range(15):
        tags = [f"misma-semilla-{batch}-{i}" for i in range(4)]
        with ThreadPoolExecutor(len(tags)) as pool:
            bodies = list(pool.map(
                lambda tag: server.post("/generate", BASE, headers={"X-Prueba": tag}).json(),
                tags,
            ))  # fmt: skip
        for tag, body in zip(tags, bodies, strict=True):
            texts.setdefault(server.worker_pid(tag), set()).add(body["text"])
        if len(texts) == 2:
            break
    assert len(texts) == 2, f"solo respondió el worker {set(texts)}"
    assert len(set().union(*texts.values())) == 1, texts  # el mismo texto en los dos
    other = server.post("/generate", {**BASE, "seed": 8}).json()["text"]
    assert other not in texts.popitem()[1]


def test_random_seed_is_reported_and_reproducible(server: ServerProcess) -> None:
    body = {k: v for k, v in BASE.items() if k != "seed"}
    first = server.post("/generate", body).json()
    again = server.post("/generate", {**body, "seed": first["seed"]}).json()
    assert again["text"] == first["text"]


def test_stream_equals_non_stream(server: ServerProcess) -> None:
    plain = server.post("/generate", BASE).json()
    resp = server.post("/generate", {**BASE, "stream": True}, stream=True)
    assert resp.status_code == 200
    events = read_sse(resp)
    chunks = [data for name, data in events if name == "message"]
    done = [data for name, data in events if name == "done"]
    assert len(chunks) == 80 and [c["index"] for c in chunks] == list(range(80))
    assert "".join(c["text"] for c in chunks) == plain["text"]
    assert len(done) == 1 and events[-1][0] == "done"
    assert done[0]["text"] == plain["text"]
    assert done[0]["usage"] == plain["usage"] and done[0]["model"] == plain["model"]


def test_top_probs_in_json_and_stream(server: ServerProcess) -> None:
    body = {**BASE, "max_new_tokens": 10, "top_probs": 5}
    plain = server.post("/generate", body).json()
    assert len(plain["chars"]) == 10
    for step in plain["chars"]:
        probs = [t["prob"] for t in step["top"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert 0 < sum(probs) <= 1.0 + 1e-6
    # Con top_k=20 el carácter elegido siempre está entre los candidatos con probabilidad > 0.
    events = read_sse(server.post("/generate", {**body, "stream": True}, stream=True))
    streamed = [d for n, d in events if n == "message"]
    assert [c["top"] for c in streamed] == [s["top"] for s in plain["chars"]]


def test_greedy_and_tiny_temperature_agree(server: ServerProcess) -> None:
    # Una temperatura minúscula desbordaba la división a infinito (probabilidades NaN):
    # ahora es el límite codicioso, igual que temperatura 0.
    greedy = server.post("/generate", {**BASE, "temperature": 0, "top_probs": 2}).json()
    tiny = server.post("/generate", {**BASE, "temperature": 1e-140, "top_probs": 2}).json()
    assert tiny["text"] == greedy["text"]
    assert all(step["top"][0]["prob"] == 1.0 for step in tiny["chars"])


def test_server_text_matches_cli_for_same_seed(server: ServerProcess, checkpoint: Path) -> None:
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.generate",
            "--ckpt",
            str(checkpoint),
            "--prompt",
            PROMPT,
            "--max-new-tokens",
            "80",
            "--temperature",
            "0.8",
            "--top-k",
            "20",
            "--seed",
            "7",
            "--device",
            "cpu",
        ],  # fmt: skip
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith(PROMPT) and cli.stdout.endswith("\n")
    cli_text = cli.stdout[len(PROMPT) : -1]
    assert server.post("/generate", BASE).json()["text"] == cli_text


def test_openai_completions(server: ServerProcess) -> None:
    body = {"model": "tiny", "prompt": PROMPT, "max_tokens": 30, "temperature": 0.8,
            "top_p": 0.9, "seed": 3, "n": 2}  # fmt: skip
    resp = server.post("/v1/completions", body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["object"] == "text_completion" and out["id"].startswith("cmpl-")
    assert out["model"] == "tiny"
    assert [c["index"] for c in out["choices"]] == [0, 1]
    assert all(len(c["text"]) == 30 and c["finish_reason"] == "length" for c in out["choices"])
    assert out["usage"] == {"prompt_tokens": 4, "completion_tokens": 60, "total_tokens": 64}
    # La muestra i usa seed + i: la segunda coincide con /generate con semilla 4.
    same = server.post(
        "/generate",
        {"prompt": PROMPT, "max_new_tokens": 30, "temperature": 0.8, "top_p": 0.9, "seed": 4},
    ).json()
    assert out["choices"][1]["text"] == same["text"]


def test_openai_completions_stream(server: ServerProcess) -> None:
    body = {"prompt": PROMPT, "max_tokens": 20, "seed": 3, "stream": True}
    plain = server.post("/v1/completions", {**body, "stream": False}).json()
    events = read_sse(server.post("/v1/completions", body, stream=True))
    assert events[-1] == ("message", "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    text = "".join(c["choices"][0]["text"] for c in chunks)
    assert text == plain["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_metrics_count_requests_chars_and_step(server: ServerProcess) -> None:
    server.post("/generate", {**BASE, "max_new_tokens": 25})
    server.get("/no-existe")
    text = server.get("/metrics").text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)$", text, re.MULTILINE)
        assert match, f"falta {pattern} en /metrics:\n{text}"
        return float(match.group(1))

    assert value(r'llm_http_requests_total\{method="POST",route="/generate",status="200"\}') >= 1
    assert value(r'llm_http_requests_total\{method="GET",route="<desconocida>",status="404"\}') >= 1
    assert value(r'llm_http_request_duration_seconds_count\{route="/generate"\}') >= 1
    assert value(r'llm_http_request_duration_seconds_bucket\{le="\+Inf",route="/generate"\}') >= 1
    assert value(r"llm_generated_chars_total") >= 25
    assert value(r"llm_model_step") == 40
    # Los dos workers cargaron su modelo: las métricas suman procesos.
    assert value(r'llm_checkpoint_loads_total\{result="ok"\}') == 2


def test_openapi_document_and_docs_page(server: ServerProcess) -> None:
    doc = server.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/generate", "/v1/completions", "/health", "/ready", "/info", "/metrics"} <= set(
        doc["paths"]
    )
    req = doc["components"]["schemas"]["GenerateRequest"]["properties"]
    assert req["prompt"]["maxLength"] == 200
    assert {"minimum": 1, "maximum": 300, "type": "integer"}.items() <= req["max_new_tokens"][
        "anyOf"
    ][0].items()
    docs = server.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["Content-Type"]
    assert "/v1/completions" in docs.text and "max_new_tokens" in docs.text


def test_playground_page_has_no_external_resources(server: ServerProcess) -> None:
    page = server.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'id="prompt"' in page.text and 'id="show-probs"' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    for asset in ("/static/playground.js", "/static/playground.css"):
        resp = server.get(asset)
        assert resp.status_code == 200
        assert "http://" not in resp.text and "https://" not in resp.text


def test_help_is_in_spanish() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=ROOT, env=python_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0
    assert "uso: python -m server" in out.stdout
    for var in ("CHECKPOINT_DIR", "MAX_NEW_TOKENS", "API_KEY", "RELOAD_INTERVAL"):
        assert var in out.stdout


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY debe estar entre 1 y 64"),
        ("PORT", "ochenta", "PORT debe ser un número entero"),
        ("RELOAD_INTERVAL", "-1", "RELOAD_INTERVAL debe ser un número finito >= 0"),
        ("DEVICE", "tostadora", "dispositivo desconocido 'tostadora'"),
    ],
)
def test_invalid_settings_stop_the_server_with_a_clear_message(
    tmp_path: Path, var: str, value: str, fragment: str
) -> None:
    settings = {"CHECKPOINT_DIR": str(tmp_path), "PORT": "0", "WEB_CONCURRENCY": "1"}
    env = python_env(**{**settings, var: value})
    proc = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert fragment in proc.stdout + proc.stderr

"""``python -m trainer.compare --quick`` como subproceso real: ficheros, reutilización y Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import math
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from matplotlib.image import imread

from tests.helpers.cli import ROOT, SUBPROCESS_ENV, run_module, tiny_text
from trainer.compare.plan import FULL, QUICK, build_plan, settings_for
from trainer.compare.runs import CACHE_FORMAT, NOT_IN_KEY, run_key

RUNS = [spec.name for spec in build_plan()]
# Lo más corto que sigue siendo la orden real: pocos pasos y muestras breves.
QUICK_ARGS = ["--quick", "--max-steps", "8", "--sample-chars", "20", "--no-progress"]


def compare(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_module(
        "trainer.compare", "--data", str(data), "--out", str(out), *QUICK_ARGS, *extra,
        timeout=600, check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    d = tmp_path_factory.mktemp("comparacion")
    data = d / "mini.txt"
    data.write_text(tiny_text(), encoding="utf-8")
    out = d / "informe"
    return data, out, compare(data, out).stdout


def load_summary(out: Path) -> dict:
    return json.loads((out / "resultados.json").read_text(encoding="utf-8"))


def test_quick_compare_writes_every_file(report):
    _, out, stdout = report
    assert stdout.count("entrenada ahora") == len(RUNS)
    # Figuras: se decodifican y tienen el tamaño de la figura (pulgadas × 100 ppp, RGBA).
    assert imread(out / "curvas.png").shape == (450, 1200, 4)
    assert imread(out / "barrido.png").shape == (400, 1200, 4)
    assert imread(out / "bigrama-gpt.png").shape == (450, 800, 4)
    summary = load_summary(out)
    assert summary["complete"] and summary["quick"]
    assert summary["counts"] == {"planned": 10, "trained": 10, "reused": 0, "missing": 0}
    assert [r["name"] for r in summary["runs"]] == RUNS
    for run in summary["runs"]:
        assert run["steps"] == 8 and run["params"] > 0 and run["reused"] is False
        assert math.isfinite(run["val_loss"]) and run["val_loss"] > 0
        # Bits por carácter de texto: la pérdida por token entre los caracteres de cada token.
        per_char = run["val_loss"] / run["chars_per_token"] / math.log(2)
        assert run["bits_per_char"] == pytest.approx(per_char)
        assert (run["chars_per_token"] == 1) == (run["tokenizer"] == "char")
        assert run["seconds"] > 0 and run["tokens_per_second"] > 0
        for key in ("checkpoint", "metrics", "curve", "log"):
            assert (out / run[key]).is_file(), run[key]
        assert imread(out / run["curve"]).shape == (450, 800, 4)  # la curva del entrenador
        grid = {(s["temperature"], s["top_k"]) for s in run["samples"]}
        assert grid == {(t, k) for t in QUICK.temperatures for k in QUICK.top_ks}
        assert all(s["max_new_tokens"] == 20 and s["seed"] == 1337 for s in run["samples"])
        if run["tokenizer"] == "char":  # un token por carácter; con BPE, más caracteres
            assert all(len(s["text"]) == 20 for s in run["samples"])
    by_name = {r["name"]: r for r in summary["runs"]}
    assert by_name["gpt-bloque8"]["block_size"] == 8 and by_name["gpt-capas4"]["n_layer"] == 4
    sweeps = {s["setting"]: [p["value"] for p in s["points"]] for s in summary["sweeps"]}
    assert sweeps == {"block_size": [8, 32, 128], "n_layer": [1, 2, 4], "n_head": [1, 4]}
    # La tabla en Markdown tiene una fila por ejecución.
    md = (out / "informe.md").read_text(encoding="utf-8")
    assert all(f"| {r['label']} |" in md for r in summary["runs"])


def test_people_read_numbers_with_a_decimal_comma(report):
    """La consola y el informe escriben 2,325 y 0,005; resultados.json guarda números de verdad."""
    _, out, stdout = report
    trained = [line for line in stdout.splitlines() if "entrenada ahora" in line]
    assert len(trained) == len(RUNS)
    for line in trained:
        assert re.search(
            r"pérdida de validación \d+,\d{3} nats/(carácter|token) "
            r"\(\d+,\d{2} bits/carácter\) en \d+,\d s\.$",
            line,
        ), line
    md = (out / "informe.md").read_text(encoding="utf-8")
    intro = md.split("\n")[2]
    assert re.search(r"tasa de aprendizaje 0,0*[1-9]\d*,", intro), intro
    table = [line for line in md.splitlines() if line.startswith("| ")]
    muestras = [line for line in md.splitlines() if line.startswith("- T=")]
    for line in [intro, *table[1:], *muestras]:
        assert not re.search(r"\d\.\d", line), line
    assert isinstance(load_summary(out)["runs"][0]["val_loss"], float)


def test_the_page_links_every_figure(report):
    _, out, _ = report
    page = (out / "informe.html").read_text(encoding="utf-8")
    links = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    pngs = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert len(pngs) == 4 + len(RUNS)
    assert pngs <= links, pngs - links
    assert all((out / link).is_file() for link in links)  # ningún enlace roto


def test_samples_come_from_the_shared_sampler(report):
    """Cada muestra es la que da ``python -m trainer.generate`` con ese checkpoint y semilla."""
    _, out, _ = report
    run = load_summary(out)["runs"][1]
    s = next(s for s in run["samples"] if s["top_k"] == 5 and s["temperature"] == 1.0)
    proc = run_module(
        "trainer.generate", "--ckpt", str(out / run["checkpoint"]), "--prompt", s["prompt"],
        "--max-new-tokens", "20", "--temperature", "1.0", "--top-k", "5", "--seed", "1337",
        check=True,
    )  # fmt: skip
    assert proc.stdout.rstrip("\n") == s["prompt"] + s["text"]


def test_a_second_run_reuses_everything(report):
    data, out, _ = report
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.pt")}
    stdout = compare(data, out).stdout
    assert stdout.count("reutilizada") == len(RUNS) and "entrenando" not in stdout
    summary = load_summary(out)
    assert summary["counts"] == {"planned": 10, "trained": 0, "reused": 10, "missing": 0}
    assert all(r["reused"] for r in summary["runs"])
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.pt")}
    assert after == before  # ningún checkpoint se reescribió


def test_bpe_rows_same_gpt_same_steps_and_their_figures(report):
    _, out, _ = report
    summary = load_summary(out)
    by_name = {r["name"]: r for r in summary["runs"]}
    seed = by_name["gpt"]
    for size in (256, 512, 1024):
        bpe = by_name[f"gpt-bpe{size}"]
        assert bpe["tokenizer"] == "bpe" and bpe["vocab_size"] <= size
        same = ("steps", "batch_size", "block_size", "n_layer", "n_head", "n_embd")
        assert all(bpe[k] == seed[k] for k in same)
    assert by_name["gpt-bpe256"]["vocab_size"] == 256  # solo bytes: la «ñ» son dos tokens
    assert by_name["gpt-bpe256"]["chars_per_token"] < 1 < by_name["gpt-bpe512"]["chars_per_token"]
    assert imread(out / "bits-tiempo.png").shape == (450, 800, 4)
    rows = {t["run"]: t for t in summary["tokenizers"]["rows"]}
    assert set(rows) == {"gpt", "gpt-bpe256", "gpt-bpe512", "gpt-bpe1024"}
    sentence = summary["tokenizers"]["sentence"]
    assert "".join(rows["gpt"]["sentence_tokens"]).replace("·", " ") == sentence
    assert len(rows["gpt-bpe512"]["sentence_tokens"]) < len(sentence)
    for t in rows.values():
        assert t["chars_per_block"] == pytest.approx(t["chars_per_token"] * seed["block_size"])
        assert 0 < t["embedding_share"] < 1
    assert rows["gpt"]["embedding_share"] < rows["gpt-bpe512"]["embedding_share"]
    md = (out / "informe.md").read_text(encoding="utf-8")
    assert "## Caracteres frente a BPE" in md and "bits-tiempo.png" in md


def test_character_runs_keep_their_cache_key(tmp_path):
    """--tokenizer y --vocab-size no cambian la clave de lo que ya se entrenaba con caracteres."""
    spec = build_plan()[1]
    settings = settings_for(spec, FULL, "a.txt", "auto", 1337, str(tmp_path))
    before = {k: v for k, v in settings.to_dict().items() if k not in ("tokenizer", "vocab_size")}
    assert run_key(settings, "sha-a") == legacy_key(before, "sha-a")
    settings.vocab_size = 999
    assert run_key(settings, "sha-a") == legacy_key(before, "sha-a")


def legacy_key(settings: dict, sha: str) -> str:
    relevant = {k: v for k, v in settings.items() if k not in NOT_IN_KEY}
    payload = json.dumps(
        {"format": CACHE_FORMAT, "settings": relevant, "data": sha}, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def test_the_key_covers_settings_and_data_bytes(tmp_path):
    spec = build_plan()[1]
    settings = settings_for(spec, FULL, "a.txt", "auto", 1337, str(tmp_path))
    key = run_key(settings, "sha-a")
    assert run_key(settings, "sha-b") != key  # otro texto
    moved = settings_for(spec, FULL, "otra/ruta.txt", "auto", 1337, str(tmp_path / "x"))
    assert run_key(moved, "sha-a") == key  # mismos bytes en otra ruta: se reutiliza
    for changed in (
        settings_for(spec, QUICK, "a.txt", "auto", 1337, str(tmp_path)),
        settings_for(spec, FULL, "a.txt", "auto", 1, str(tmp_path)),
        settings_for(build_plan()[2], FULL, "a.txt", "auto", 1337, str(tmp_path)),
    ):
        assert run_key(changed, "sha-a") != key


def start_compare(data: Path, out: Path) -> subprocess.Popen[str]:
    # 600 pasos: el bigrama los hace en segundos; el GPT tardaría minutos (ahí se interrumpe).
    cmd = [sys.executable, "-m", "trainer.compare", "--data", str(data), "--out", str(out),
           "--quick", "--max-steps", "600", "--sample-chars", "5", "--no-progress"]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def interrupt_when(proc: subprocess.Popen[str], marker: str) -> tuple[str, str]:
    """Lee la salida hasta ``marker`` y entonces manda SIGINT (un Ctrl-C de verdad)."""
    watchdog = threading.Timer(400, proc.kill)
    watchdog.start()
    try:
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
    assert proc.returncode == 130, err
    return "".join(seen) + out, err


def test_ctrl_c_keeps_what_is_finished(tmp_path):
    data = tmp_path / "mini.txt"
    data.write_text(tiny_text(), encoding="utf-8")
    out = tmp_path / "informe"
    marker = "GPT (semilla): entrenando"
    stdout, stderr = interrupt_when(start_compare(data, out), marker)
    assert "bigrama: entrenada ahora" in stdout
    assert "señal SIGINT recibida" in stderr and "Traceback" not in stderr
    assert f"Interrumpida: 1 de {len(RUNS)} ejecuciones terminadas" in stdout
    summary = load_summary(out)
    assert summary["complete"] is False
    assert summary["counts"] == {"planned": 10, "trained": 1, "reused": 0, "missing": 9}
    assert [r["name"] for r in summary["runs"]] == ["bigrama"]
    assert imread(out / summary["runs"][0]["curve"]).shape == (450, 800, 4)
    assert "Comparación interrumpida" in (out / "informe.html").read_text(encoding="utf-8")
    records = sorted(p.name for p in (out / "runs").glob("*.json") if ".samples" not in p.name)
    assert len(records) == 1 and records[0].startswith("bigrama-")  # el GPT a medias, no

    # La misma orden otra vez: el bigrama terminado no se vuelve a entrenar.
    stdout, _ = interrupt_when(start_compare(data, out), marker)
    assert "bigrama: reutilizada" in stdout and "bigrama: entrenando" not in stdout
    assert load_summary(out)["counts"] == {"planned": 10, "trained": 0, "reused": 1, "missing": 9}


def test_bad_input_is_a_clean_error_before_training(tmp_path):
    short = tmp_path / "corto.txt"
    short.write_text("hola mundo\n" * 50, encoding="utf-8")
    good = tmp_path / "bueno.txt"
    good.write_text(tiny_text(), encoding="utf-8")
    cases = [
        (["--data", str(short)], "demasiado corto para comparar"),
        (["--data", str(tmp_path / "no.txt")], "no existe el fichero de datos"),
        (["--data", str(good), "--max-steps", "0"], "--max-steps debe ser positivo"),
    ]
    for args, message in cases:
        proc = run_module("trainer.compare", *args, "--out", str(tmp_path / "x"), "--quick")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert not list(tmp_path.rglob("*.pt"))  # nada se entrenó

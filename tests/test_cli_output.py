"""Lo que ve una persona en la consola: ayuda y errores en español, números a la española,
la barra de progreso sin texto pegado, qué hacer después y cómo repetir una muestra."""

import re
import subprocess
import sys

import pytest

from shared.common.spanish_numbers import fmt_float, fmt_int
from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS, run_module
from trainer.console import LOSSES_EXPLAINED

# Todas las CLIs del proyecto: las de argparse y la del servidor (cuyos argumentos extra son de
# gunicorn, que los comprueba con su argparse antes de arrancar).
CLIS = (
    "trainer", "trainer.generate", "trainer.evaluate", "trainer.attention", "trainer.compare",
    "trainer.plot", "trainer.options_doc", "bench", "bench.batching", "server",
)  # fmt: skip
# Lo que argparse (o gunicorn) escribe en inglés si nadie lo traduce.
ENGLISH = (
    "usage:", "options:", "optional arguments", "positional arguments", "show this help",
    "default:", "(default", ": error:", "the following arguments", "invalid", "unrecognized",
    "expected one argument", "choose from", "argument ", "ambiguous",
)  # fmt: skip


def assert_no_english(text: str) -> None:
    found = [word for word in ENGLISH if word in text]
    assert not found, f"{found} en:\n{text}"


@pytest.mark.parametrize("module", CLIS)
def test_help_and_a_bad_flag_are_entirely_in_spanish(module):
    out = run_module(module, "--help", check=True).stdout
    assert out.startswith(f"uso: python -m {module}"), out
    if module != "server":  # la del servidor es un texto propio, con la tabla de variables
        assert "\nopciones:\n" in out and "muestra esta ayuda" in out
    assert_no_english(out)
    bad = run_module(module, "--opcion-que-no-existe")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert bad.stderr.startswith("error: "), bad.stderr
    assert f"Ayuda: python -m {module} --help" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert_no_english(bad.stdout + bad.stderr)


@pytest.mark.parametrize(
    "module,args,fragment",
    [
        ("trainer", ["--max-steps", "muchos"], "--max-steps: valor no válido 'muchos'"),
        ("trainer", ["--model", "rnn"], "--model: opción no válida 'rnn'"),
        ("trainer", ["--no-existe"], "opciones desconocidas: --no-existe"),
        ("trainer", ["--n", "3"], "opción ambigua --n"),
        ("trainer", ["--data"], "--data: falta su valor"),
        ("trainer", ["--weight-decay", "nan"], "--weight-decay: 'nan' no vale"),
        ("trainer.generate", [], "falta indicar: --ckpt"),
        ("trainer.evaluate", ["--ckpt", "x", "--split", "test"], "--split: opción no válida"),
        ("bench", ["--seed-steps", "1.5"], "--seed-steps: valor no válido '1.5'"),
        ("server", ["--workers", "muchos"], "--workers: valor no válido 'muchos'"),
    ],
)
def test_usage_errors_are_in_spanish(module, args, fragment):
    proc = run_module(module, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: "), proc.stderr
    assert fragment in proc.stderr, proc.stderr
    assert f"Ayuda: python -m {module} --help" in proc.stderr
    assert_no_english(proc.stderr)


def test_spanish_number_formatting():
    assert fmt_int(424576) == "424\u00a0576"
    assert fmt_int(2000) == "2000"  # cuatro cifras: sin separar (RAE)
    assert fmt_int(12345678.4) == "12\u00a0345\u00a0678"
    assert fmt_float(2.27152873897882) == "2,27"
    assert fmt_float(12345.67, 1) == "12\u00a0345,7"
    assert fmt_float(-0.001) == "0,00"


def test_training_console_output_reads_in_spanish(tiny_data, tmp_path):
    # Con la barra de progreso (como en una terminal) y stderr mezclado con stdout.
    env = {k: v for k, v in SUBPROCESS_ENV.items() if k != "LLM_NO_PROGRESS"}
    args = [a for a in TINY_GPT_ARGS if a != "--no-progress"]
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", *args, "--data", str(tiny_data), "--max-steps", "40",
         "--checkpoint-dir", str(tmp_path), "--run-name", "consola"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=120,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out
    # La línea de evaluación sale por encima de la barra, no pegada a su final.
    for step in ("20", "40"):
        at = out.index(f"paso {step}/40 · pérdida estimada: train ")
        assert out[at - 1] in "\r\n", repr(out[at - 80 : at + 20])
    assert "evaluando…" in out  # la barra dice qué hace mientras evalúa
    assert re.search(r"\(\d{1,3}\u00a0\d{3} parámetros\)", out), out
    assert re.search(r"pérdida de validación exacta: \d+,\d{4} nats/carácter", out), out
    # Las tres pérdidas que se ven (lote en la barra, estimada por paso, exacta) y su explicación.
    assert re.search(r"pérdida del lote \d+,\d{3} · ", out), out
    assert out.count(LOSSES_EXPLAINED) == 1, out
    assert re.search(r"velocidad: [\d\u00a0]+ tokens/s", out), out
    assert "Siguientes pasos:" in out and "http://127.0.0.1:8000/" in out
    assert f'make generate CHECKPOINT_DIR="{tmp_path}"' in out


def test_generate_says_which_checkpoint_and_seed_and_the_seed_repeats_it(tiny_checkpoint):
    args = ["--ckpt", str(tiny_checkpoint.parent), "--max-new-tokens", "40"]
    first = run_module("trainer.generate", *args, check=True)
    # stdout: solo el texto; stderr: de dónde salió y cómo repetirlo.
    assert str(tiny_checkpoint) in first.stderr and "paso 40" in first.stderr
    seed = re.search(r"--seed (\d+)", first.stderr)
    assert seed, first.stderr
    again = run_module("trainer.generate", *args, "--seed", seed.group(1), check=True)
    assert again.stdout == first.stdout
    assert f"GEN_SEED={seed.group(1)}" in first.stderr


def test_evaluate_prints_spanish_numbers_and_json_stays_json(tiny_checkpoint):
    human = run_module("trainer.evaluate", "--ckpt", str(tiny_checkpoint), check=True).stdout
    assert re.search(r"^pérdida: \d+,\d{4} nats/carácter \(\d+,\d{4} bits/carácter\)$", human, re.M)
    raw = run_module("trainer.evaluate", "--ckpt", str(tiny_checkpoint), "--json", check=True)
    assert re.search(r'"loss": \d+\.\d+', raw.stdout)


def test_generate_points_at_checkpoints_left_in_the_old_shared_folder(tiny_checkpoint, tmp_path):
    # Antes, todo iba a checkpoints/; ahora make generate mira checkpoints/gpt.
    old = tmp_path / "checkpoints"
    old.mkdir()
    (old / "viejo.pt").write_bytes(tiny_checkpoint.read_bytes())
    proc = run_module("trainer.generate", "--ckpt", str(old / "gpt"))
    assert proc.returncode == 3 and proc.stderr.startswith("error: no hay ningún checkpoint")
    assert f"CHECKPOINT_DIR={old}" in proc.stderr and "Traceback" not in proc.stderr

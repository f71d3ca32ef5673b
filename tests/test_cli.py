"""Las CLIs como subprocesos reales: casos felices y cada entrada inválida."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from shared.checkpoints.files import load_checkpoint
from tests.helpers.cli import ROOT, SUBPROCESS_ENV, TINY_GPT_ARGS, run_module


def assert_clean_error(proc, code, *fragments):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    for f in fragments:
        assert f in proc.stderr, proc.stderr


def test_generate_cli_is_reproducible_and_keeps_the_prompt(tiny_checkpoint):
    args = ["--ckpt", str(tiny_checkpoint), "--prompt", "Línea", "--max-new-tokens", "40",
            "--temperature", "0.8", "--top-k", "5", "--seed", "3"]  # fmt: skip
    a = run_module("trainer.generate", *args, check=True).stdout
    b = run_module("trainer.generate", *args, check=True).stdout
    assert a == b and a.startswith("Línea") and len(a.rstrip("\n")) == 5 + 40


def test_generate_cli_num_samples_and_directory_ckpt(tiny_checkpoint):
    proc = run_module(
        "trainer.generate",
        "--ckpt",
        str(tiny_checkpoint.parent),
        "--max-new-tokens",
        "20",
        "--num-samples",
        "2",
        "--seed",
        "1",
        check=True,
    )
    assert proc.stdout.count("--- muestra") == 2


def test_evaluate_cli_json(tiny_checkpoint):
    proc = run_module("trainer.evaluate", "--ckpt", str(tiny_checkpoint), "--json", check=True)
    out = json.loads(proc.stdout)
    assert out["chars"] > 0 and out["loss"] > 0
    assert out["bits_per_char"] == pytest.approx(out["loss"] / 0.6931471805599453)
    whole = json.loads(
        run_module(
            "trainer.evaluate",
            "--ckpt",
            str(tiny_checkpoint),
            "--split",
            "all",
            "--json",
            check=True,
        ).stdout
    )
    assert whole["chars"] > 5 * out["chars"]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.txt").write_text("   \n")
    (d / "latin1.txt").write_bytes("año señor".encode("latin-1") * 100)
    (d / "short.txt").write_text("Hola, ¿qué tal?")
    (d / "corrupt.pt").write_bytes(b"PK\x03\x04 esto no es un zip de verdad")
    readonly = d / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    return d


TRAIN_CASES = [
    (["--data", "{d}/no-existe.txt"], 2, "no existe"),
    (["--data", "{d}/empty.txt"], 2, "vacío"),
    (["--data", "{d}/latin1.txt"], 2, "UTF-8"),
    (["--data", "{d}/short.txt"], 2, "demasiado corto"),
    (["--n-embd", "30", "--n-head", "4"], 2, "divisible"),
    (["--max-steps", "0"], 2, "positivo"),
    (["--batch-size", "-3"], 2, "positivo"),
    (["--n-layer", "0"], 2, "positivo"),
    (["--device", "tpu"], 2, "dispositivo"),
    (["--device", "cuda"], 2, "CUDA"),
    (["--checkpoint-dir", "{d}/readonly/sub"], 2, "no se puede escribir"),
    (["--resume", "{d}/corrupt.pt"], 3, "corrupto"),
    (["--resume", "{d}/no-existe.pt"], 3, "no existe"),
    (["--resume", "--checkpoint-dir", "{d}/vacio"], 3, "no hay ningún checkpoint"),
]


@pytest.mark.parametrize("args,code,fragment", TRAIN_CASES)
def test_trainer_bad_input(bad_files, tmp_path, args, code, fragment):
    if os.geteuid() == 0 and "readonly" in " ".join(args):
        # root ignora los permisos: usamos una ruta bajo un fichero, que nadie puede crear.
        args = ["--checkpoint-dir", "{d}/empty.txt/sub"]
    args = [a.format(d=bad_files) for a in args]
    if "--data" not in args:
        args += ["--data", str(ROOT / "data" / "tiny_spanish.txt")]
    if "--checkpoint-dir" not in args:
        args += ["--checkpoint-dir", str(tmp_path)]
    proc = run_module("trainer", "--max-steps", "5", *args)
    assert_clean_error(proc, code, fragment)


def test_generate_and_evaluate_bad_input(bad_files, tiny_checkpoint, tmp_path):
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    code = (
        "import os, torch\n"
        "class E:\n"
        f"    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
        f"torch.save({{'format': 'llm-desde-cero/checkpoint', 'x': E()}}, '{evil}')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=SUBPROCESS_ENV)
    ck = str(tiny_checkpoint)
    empty_dir = tmp_path / "sin-checkpoints"
    empty_dir.mkdir()
    cases = [
        (["trainer.generate", "--ckpt", ck, "--prompt", "hola €"], 2, "'€'"),
        (["trainer.generate", "--ckpt", ck, "--temperature", "-1"], 2, "temperatura"),
        (["trainer.generate", "--ckpt", ck, "--top-p", "0"], 2, "top_p"),
        # Los límites de muestreo, una sola comprobación (SamplingParams), antes de cargar nada.
        (["trainer.generate", "--ckpt", "x", "--temperature", "inf"], 2, "temperatura"),
        (["trainer.generate", "--ckpt", "x", "--top-p", "nan"], 2, "top_p"),
        (["trainer.generate", "--ckpt", f"{bad_files}/corrupt.pt"], 3, "corrupto"),
        (["trainer.generate", "--ckpt", str(evil)], 3, "no permitidos"),
        (["trainer.generate", "--ckpt", str(bad_files / "empty.txt")], 3, "corrupto"),
        (["trainer.evaluate", "--ckpt", ck, "--data", f"{bad_files}/latin1.txt"], 2, "UTF-8"),
        (["trainer.evaluate", "--ckpt", ck, "--data", f"{bad_files}/short.txt"], 2, "vocabulario"),
        (["trainer.evaluate", "--ckpt", str(empty_dir)], 3, "no hay ningún checkpoint"),
    ]
    for (module, *args), code_, fragment in cases:
        assert_clean_error(run_module(module, *args), code_, fragment)
    assert not marker.exists()


def test_sigterm_saves_a_checkpoint_exits_zero_and_resume_finishes(tiny_data, tmp_path):
    cmd = [sys.executable, "-m", "trainer", *TINY_GPT_ARGS, "--data", str(tiny_data),
           "--max-steps", "100000", "--eval-interval", "1000", "--checkpoint-dir", str(tmp_path),
           "--run-name", "sig"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert "Entrenando" in proc.stdout.readline()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "interrumpido" in out and "--resume" in out
    step = load_checkpoint(tmp_path / "sig.pt").step
    assert 0 < step < 100000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # sin temporales
    # Reanudar el último checkpoint del directorio hasta un final cercano.
    resumed = run_module(
        "trainer",
        "--resume",
        "--checkpoint-dir",
        str(tmp_path),
        "--max-steps",
        str(step + 30),
        "--no-progress",
        check=True,
    )
    assert f"Reanudando desde el paso {step}" in resumed.stdout
    assert load_checkpoint(tmp_path / "sig.pt").step == step + 30

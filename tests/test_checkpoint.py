import os
import shutil
import time
from pathlib import Path

import pytest
import torch

import shared.checkpoints.files as ckpt_mod
from shared.checkpoints.files import (
    FORMAT_NAME,
    Checkpoint,
    clean_stale_temp_files,
    latest_checkpoint,
    load_checkpoint,
    load_latest_usable,
    load_model,
    save_checkpoint,
)  # fmt: skip
from shared.common.errors import CheckpointError
from shared.config import GPTConfig
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT
from tests.helpers.bad_checkpoints import BAD_CHECKPOINTS, write_bad_checkpoints
from tests.helpers.cli import TINY_GPT_ARGS, run_module


def make_ckpt(step: int = 10) -> Checkpoint:
    tok = CharTokenizer.from_text("hola ñandú ¿qué?")
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_embd=16, n_head=2, n_layer=1)
    torch.manual_seed(step)
    model = GPT(cfg)
    return Checkpoint("gpt", cfg, tok, model.state_dict(), step=step, val_loss=1.5)


def test_round_trip_is_self_contained_and_weights_only(tmp_path):
    original = make_ckpt()
    path = save_checkpoint(original, tmp_path / "a.pt")
    raw = torch.load(path, weights_only=True)  # solo tipos simples y tensores
    assert raw["format"] == FORMAT_NAME and raw["format_version"] == 1
    model, tok, meta = load_model(path)
    assert tok.chars == original.tokenizer.chars
    assert meta.step == 10 and meta.val_loss == 1.5 and meta.model_type == "gpt"
    for k, v in original.state_dict.items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)


def test_write_is_atomic_when_a_crash_happens_mid_write(tmp_path, monkeypatch):
    path = save_checkpoint(make_ckpt(1), tmp_path / "run.pt")
    before = path.read_bytes()

    def crash(obj, fh, *a, **k):
        fh.write(b"medio fichero")
        raise OSError("disco lleno (simulado)")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(make_ckpt(2), path)
    assert path.read_bytes() == before  # el anterior sigue intacto
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # sin temporales


def test_malicious_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT_NAME, "format_version": 1, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="no permitidos"):
        load_checkpoint(path)
    assert not marker.exists()


def test_corrupt_truncated_and_foreign_files_are_refused(tmp_path):
    good = save_checkpoint(make_ckpt(), tmp_path / "good.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.pt").write_text("no soy un checkpoint")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    torch.save(GPT(make_ckpt().config).state_dict(), tmp_path / "state_dict.pt")
    for name in ("trunc.pt", "text.pt", "foreign.pt", "state_dict.pt", "missing.pt"):
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / name)


def test_future_format_version_is_refused_clearly(tmp_path):
    data = make_ckpt().to_dict()
    data["format_version"] = 99
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="versión de formato 99"):
        load_checkpoint(tmp_path / "future.pt")


def test_shape_mismatch_is_refused(tmp_path):
    data = make_ckpt().to_dict()
    data["model_config"]["n_embd"] = 32  # los pesos son de 16
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="no encajan"):
        load_model(tmp_path / "bad.pt")


def _arrive(path: Path) -> None:
    # ctime tiene la resolución del reloj grueso del núcleo (unos ms): separar las llegadas.
    time.sleep(0.03)


def test_latest_rule_is_arrival_order_and_ignores_temp_files(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    a = save_checkpoint(make_ckpt(1), tmp_path / "b-old.pt")
    _arrive(a)
    b = save_checkpoint(make_ckpt(2), tmp_path / "a-new.pt")
    (tmp_path / ".a-new.pt.123.tmp").write_bytes(b"parcial")
    (tmp_path / ".hidden.pt").write_bytes(b"parcial")
    (tmp_path / "notes.txt").write_text("x")
    assert latest_checkpoint(tmp_path) == b
    # Un directorio como ruta lee su último checkpoint.
    assert load_checkpoint(tmp_path).step == 2


def test_mtime_neither_pins_nor_hides_a_checkpoint(tmp_path):
    """Falla con la regla por mtime de main: el fichero con fecha futura gana siempre y una
    copia ``cp -p`` (fecha vieja) de un paso más nuevo no se ve nunca."""
    future = save_checkpoint(make_ckpt(1), tmp_path / "futuro.pt")
    year_3000 = 32_503_680_000 * 10**9
    os.utime(future, ns=(year_3000, year_3000))  # touch -d 3000-01-01
    _arrive(future)
    newer = save_checkpoint(make_ckpt(2), tmp_path / "nuevo.pt")
    assert latest_checkpoint(tmp_path) == newer
    _arrive(newer)
    source = save_checkpoint(make_ckpt(3), tmp_path.parent / f"{tmp_path.name}-fuera.pt")
    copied = Path(shutil.copy2(source, tmp_path / "copia-p.pt"))  # cp -p: conserva la mtime
    os.utime(copied, ns=(10**9, 10**9))  # y encima con fecha de 1970
    assert latest_checkpoint(tmp_path) == copied
    assert load_checkpoint(tmp_path).step == 3


def test_latest_usable_skips_unreadable_and_invalid_newer_files(tmp_path):
    good = save_checkpoint(make_ckpt(7), tmp_path / "bueno.pt")
    _arrive(good)
    (tmp_path / "truncado.pt").write_bytes(good.read_bytes()[:100])
    _arrive(good)
    bad = make_ckpt(8).to_dict()
    bad["val_loss"] = "abc"
    torch.save(bad, tmp_path / "metadatos.pt")
    skipped = []
    ckpt, path = load_latest_usable(tmp_path, on_skip=lambda p, e: skipped.append((p.name, e)))
    assert (ckpt.step, path) == (7, good)
    assert [name for name, _ in skipped] == ["metadatos.pt", "truncado.pt"]
    assert "val_loss debe ser un número finito" in str(skipped[0][1])
    good.unlink()
    with pytest.raises(CheckpointError, match="ningún checkpoint .* se puede usar"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(("name", "mutate", "expected"), BAD_CHECKPOINTS)
def test_bad_metadata_is_refused_when_loading(tiny_checkpoint, tmp_path, name, mutate, expected):
    """Falla en main: estos ficheros se cargaban (y luego rompían /info, /ready o la CLI)."""
    raw = torch.load(tiny_checkpoint, weights_only=True)
    mutate(raw)
    torch.save(raw, tmp_path / name)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / name)
    assert expected in str(info.value)
    assert str(info.value).startswith(f"'{tmp_path / name}' no es válido: ")


def test_a_real_training_checkpoint_passes_every_check(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.step == 40 and ckpt.val_loss is not None and len(ckpt.data_sha256) == 64
    assert set(ckpt.train_state) == {"settings", "optimizer", "rng", "world_size"}


def test_cli_refuses_every_bad_file_with_exit_3(tiny_checkpoint, tmp_path):
    """Un directorio solo con ficheros inválidos: la CLI avisa de cada uno y sale con 3."""
    paths = write_bad_checkpoints(tiny_checkpoint, tmp_path)
    proc = run_module("trainer.generate", "--ckpt", str(tmp_path), "--max-new-tokens", "3")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("aviso: ")]
    assert len(warnings) == len(paths)
    for path, (_, _, expected) in zip(paths, BAD_CHECKPOINTS, strict=True):
        assert any(f"'{path}' no es válido: " in w and expected in w for w in warnings), path
    assert proc.stderr.splitlines()[-1].startswith(f"error: ningún checkpoint de '{tmp_path}'")


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("trainer.generate", ["--device", "cpu", "--ckpt"]),
        ("trainer", ["--no-progress", "--resume"]),
    ],
)
def test_cli_bad_step_or_train_state_exit_3_without_traceback(
    tiny_checkpoint, tmp_path, module, args
):
    """En main: traza de Python y código 1 (step="abc" o train_state="x")."""
    for key, value in (("step", "abc"), ("train_state", "x")):
        raw = torch.load(tiny_checkpoint, weights_only=True)
        raw[key] = value
        bad = tmp_path / f"malo-{key}.pt"
        torch.save(raw, bad)
        proc = run_module(module, *args, str(bad))
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.startswith(f"error: '{bad}' no es válido: {key}"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_cli_ckpt_dir_falls_back_past_a_corrupt_newest_file(tiny_checkpoint, tmp_path):
    """En main, ``--ckpt DIR`` salía con 3 si el más reciente estaba corrupto (el servidor, en
    cambio, seguía con el anterior): ahora los dos usan el último utilizable."""
    good = Path(shutil.copy2(tiny_checkpoint, tmp_path / "tiny.pt"))
    _arrive(good)
    (tmp_path / "zz-roto.pt").write_bytes(good.read_bytes()[:1000])
    proc = run_module("trainer.generate", "--ckpt", str(tmp_path), "--max-new-tokens", "5",
                      "--seed", "1", "--device", "cpu")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"aviso: se salta un checkpoint: '{tmp_path / 'zz-roto.pt'}' está corrupto" in (
        proc.stderr
    )
    direct = run_module("trainer.generate", "--ckpt", str(good), "--max-new-tokens", "5",
                        "--seed", "1", "--device", "cpu")  # fmt: skip
    assert proc.stdout == direct.stdout  # el mismo modelo y la misma semilla: el mismo texto


def test_stale_temp_files_are_cleaned_on_save_and_only_ours(tmp_path):
    """En main nadie borraba los temporales que deja un SIGKILL a mitad de guardado."""
    old = time.time() - 3600
    stale = tmp_path / ".run.pt.4242.tmp"
    fresh = tmp_path / ".run.pt.4343.tmp"  # un guardado en curso de otro proceso
    foreign = [tmp_path / ".notas.tmp", tmp_path / "run.pt.1.tmp", tmp_path / ".x.pt.abc.tmp"]
    for p in (stale, fresh, *foreign):
        p.write_bytes(b"parcial")
    for p in (stale, *foreign):
        os.utime(p, (old, old))
    save_checkpoint(make_ckpt(1), tmp_path / "run.pt")
    assert not stale.exists()
    assert fresh.exists() and all(p.exists() for p in foreign)
    assert clean_stale_temp_files(tmp_path, max_age=0, now=time.time() + 1) == [fresh]


def test_trainer_start_cleans_stale_temp_files(tiny_data, tmp_path):
    stale = tmp_path / ".viejo.pt.99.tmp"
    stale.write_bytes(b"parcial")
    os.utime(stale, (time.time() - 3600,) * 2)
    proc = run_module(
        "trainer", *TINY_GPT_ARGS, "--data", str(tiny_data), "--max-steps", "1",
        "--checkpoint-dir", str(tmp_path), "--run-name", "r", "--eval-interval", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()


def test_huge_declared_sizes_are_refused_before_building(tmp_path, monkeypatch):
    """En main, n_layer 12000 se construía (~21 s de arranque del servidor) y un fichero con
    cientos de miles de tensores diminutos se leía entero, durante minutos."""
    data = make_ckpt().to_dict()
    data["model_config"]["n_layer"] = 12000
    torch.save(data, tmp_path / "profundo.pt")
    with pytest.raises(CheckpointError, match="'n_layer' no puede pasar de 512"):
        load_checkpoint(tmp_path / "profundo.pt")
    path = save_checkpoint(make_ckpt(), tmp_path / "normal.pt")
    monkeypatch.setattr(ckpt_mod, "MAX_ZIP_ENTRIES", 5)
    with pytest.raises(CheckpointError, match=r"tiene \d+ tensores; .* como mucho 5"):
        load_checkpoint(path)
    monkeypatch.undo()
    monkeypatch.setenv("MEMORY_LIMIT", "1K")  # ni se lee un fichero mayor que el límite
    with pytest.raises(CheckpointError, match=r"ocupa .* más que el límite MEMORY_LIMIT=1K"):
        load_checkpoint(path)

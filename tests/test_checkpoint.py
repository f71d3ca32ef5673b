import os

import pytest
import torch

import shared.checkpoint as ckpt_mod
from shared.checkpoint import (
    FORMAT_NAME,
    Checkpoint,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
)  # fmt: skip
from shared.config import GPTConfig
from shared.errors import CheckpointError
from shared.tokenizer import CharTokenizer
from shared.transformer_model import GPT


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


def test_latest_rule_uses_mtime_and_ignores_temp_files(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    a = save_checkpoint(make_ckpt(1), tmp_path / "b-old.pt")
    b = save_checkpoint(make_ckpt(2), tmp_path / "a-new.pt")
    os.utime(a, ns=(1_000_000_000, 1_000_000_000))
    (tmp_path / ".a-new.pt.123.tmp").write_bytes(b"parcial")
    (tmp_path / ".hidden.pt").write_bytes(b"parcial")
    (tmp_path / "notes.txt").write_text("x")
    assert latest_checkpoint(tmp_path) == b
    # Un directorio como ruta lee su último checkpoint.
    assert load_checkpoint(tmp_path).step == 2

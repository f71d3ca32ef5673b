"""El GPT sobre tokens BPE: entrenar (--tokenizer bpe), el checkpoint que lo lleva, reanudar,
evaluar en bits por carácter y generar sin escribir nunca medio carácter.

Todo con la CLI real y modelos diminutos (unos segundos cada uno).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from shared.bpe_tokenizer import BPETokenizer
from shared.checkpoints.files import load_checkpoint, load_model
from shared.common.errors import CheckpointError, ConfigError
from shared.common.memory_estimate import estimate_inference
from shared.config import GPTConfig
from shared.engine.batch import generate
from shared.generation import TextDecoder, collect, reference_generate
from shared.sampling import SamplingParams
from shared.tokenizer import CharTokenizer
from tests.helpers.checkpoints import DATA, train_tiny
from tests.helpers.cli import TINY_GPT_ARGS, run_module
from trainer.cli import build_parser
from trainer.data import split_text
from trainer.settings import DEFAULT_BPE_VOCAB_SIZE, TrainSettings

VOCAB = 300


def train_bpe(directory: Path, *extra: str, max_steps: int = 20) -> Path:
    run_module(
        "trainer", *TINY_GPT_ARGS, "--tokenizer", "bpe", "--vocab-size", str(VOCAB),
        "--data", str(DATA), "--max-steps", str(max_steps), "--checkpoint-dir", str(directory),
        "--run-name", "bpe", "--seed", "1337", *extra, timeout=300, check=True,
    )  # fmt: skip
    return directory / "bpe.pt"


@pytest.fixture(scope="module")
def bpe_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bpe(tmp_path_factory.mktemp("bpe"))


def test_settings_default_to_characters_and_check_the_vocabulary_size():
    args = build_parser().parse_args(["--tokenizer", "bpe", "--vocab-size", "300"])
    assert (args.tokenizer, args.vocab_size) == ("bpe", 300)
    assert TrainSettings().tokenizer == "char"
    assert TrainSettings().vocab_size == DEFAULT_BPE_VOCAB_SIZE
    with pytest.raises(ConfigError, match="--vocab-size"):
        TrainSettings(tokenizer="bpe", vocab_size=100).validate()
    TrainSettings(tokenizer="char", vocab_size=100).validate()  # con char no se usa


def test_the_checkpoint_carries_a_tokenizer_trained_on_the_training_split(bpe_checkpoint):
    ckpt = load_checkpoint(bpe_checkpoint)
    assert isinstance(ckpt.tokenizer, BPETokenizer)
    assert ckpt.tokenizer.vocab_size == ckpt.config.vocab_size == VOCAB
    train_text, _ = split_text(DATA.read_text(encoding="utf-8"))
    assert ckpt.tokenizer.merges == BPETokenizer.train(train_text, VOCAB).merges
    assert ckpt.train_state["settings"]["tokenizer"] == "bpe"


def test_resume_continues_with_the_stored_tokenizer(bpe_checkpoint, tmp_path):
    copy = tmp_path / "bpe.pt"
    copy.write_bytes(bpe_checkpoint.read_bytes())
    run_module(
        "trainer", "--resume", str(copy), "--max-steps", "30", "--no-progress",
        timeout=300, check=True,
    )  # fmt: skip
    ckpt = load_checkpoint(copy)
    assert ckpt.step == 30
    assert ckpt.tokenizer.merges == load_checkpoint(bpe_checkpoint).tokenizer.merges


def test_a_bad_merge_table_is_refused_in_spanish_with_exit_3(bpe_checkpoint, tmp_path):
    raw = torch.load(bpe_checkpoint, weights_only=True)
    raw["vocab"]["merges"][5] = [0, 300]  # un token que aún no existe
    bad = tmp_path / "mala.pt"
    torch.save(raw, bad)
    with pytest.raises(CheckpointError, match="fusión 5"):
        load_checkpoint(bad)
    proc = run_module("trainer.generate", "--ckpt", str(bad), "--max-new-tokens", "5")
    assert proc.returncode == 3, proc.stderr
    assert "fusión 5" in proc.stderr and "no es válido" in proc.stderr


def test_evaluate_reports_bits_per_char_for_both_tokenizers(bpe_checkpoint, tmp_path):
    char_ckpt = train_tiny(tmp_path, max_steps=20)
    results = {}
    for name, path in (("char", char_ckpt), ("bpe", bpe_checkpoint)):
        proc = run_module("trainer.evaluate", "--ckpt", str(path), "--json", check=True)
        results[name] = json.loads(proc.stdout)
    char, bpe = results["char"], results["bpe"]
    assert char["chars_per_token"] == 1 and char["tokens"] == char["chars"]
    assert char["bits_per_char"] == pytest.approx(char["loss"] / math.log(2))
    # Cada token BPE lleva más de un carácter: la pérdida por token se reparte entre ellos.
    assert bpe["chars_per_token"] > 1.2 and bpe["tokenizer"] == "bpe"
    assert bpe["chars"] == char["chars"]  # el mismo texto de validación (menos el 1.er token)
    assert bpe["bits_per_char"] == pytest.approx(bpe["loss"] / bpe["chars_per_token"] / math.log(2))


def test_the_memory_estimate_counts_the_larger_embedding():
    small = estimate_inference(GPTConfig(vocab_size=60))
    large = estimate_inference(GPTConfig(vocab_size=1024))
    # Embedding compartido con la capa de salida: (1024 - 60) × 128 floats más, como mínimo.
    assert large.total - small.total >= (1024 - 60) * 128 * 4


def test_the_decoder_holds_bytes_until_they_make_a_character():
    bytes_only = BPETokenizer([])  # solo los 256 bytes: la «ñ» son dos tokens
    ids = bytes_only.encode("año€")
    decoder = TextDecoder(bytes_only)
    pieces = [decoder.feed(i) for i in ids]
    assert pieces == ["a", "", "ñ", "o", "", "", "€"]
    # Con caracteres, cada token sale entero y al momento.
    chars = CharTokenizer.from_text("año")
    assert [TextDecoder(chars).feed(i) for i in chars.encode("año")] == ["a", "ñ", "o"]


def test_engine_and_lesson_agree_on_a_bpe_model_and_never_emit_half_a_character(
    bpe_checkpoint,
):
    model, tokenizer, _ = load_model(bpe_checkpoint)
    params = SamplingParams(max_new_tokens=60, temperature=1.0, seed=3, top_probs=3)
    lesson = collect(reference_generate(model, tokenizer, "Había una vez", params), "")
    engine = generate(model, tokenizer, "Había una vez", params)
    assert engine.token_ids == lesson.token_ids and engine.text == lesson.text
    assert engine.text == tokenizer.decode(engine.token_ids)
    # Trozo a trozo, el mismo texto que decodificar todos los ids juntos: ningún byte suelto se
    # convirtió en «�» por salir antes de que llegara el resto de su carácter.
    assert "".join(step.text for step in engine.chars) == tokenizer.decode(engine.token_ids)
    for step in engine.chars:
        assert step.token == tokenizer.token_text(step.token_id)
        assert all(" " not in label for label, _ in step.top)  # el espacio se ve: «·»


def test_the_generate_cli_writes_the_engine_text(bpe_checkpoint):
    proc = run_module(
        "trainer.generate", "--ckpt", str(bpe_checkpoint), "--prompt", "Había una vez",
        "--max-new-tokens", "25", "--seed", "4", check=True,
    )  # fmt: skip
    model, tokenizer, _ = load_model(bpe_checkpoint)
    params = SamplingParams(max_new_tokens=25, temperature=1.0, top_k=0, seed=4)
    expected = generate(model, tokenizer, "Había una vez", params)
    assert proc.stdout == "Había una vez" + expected.text + "\n"

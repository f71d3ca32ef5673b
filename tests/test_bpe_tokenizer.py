"""El BPE de la lección: ida y vuelta, determinismo, tablas malas y comparación con Hugging Face."""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.bpe import hugging_face_bpe
from shared.bpe_tokenizer import SPLIT, BPETokenizer
from shared.common.errors import TokenizerError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = (ROOT / "data" / "tiny_spanish.txt").read_text(encoding="utf-8")
CUT = int(len(CORPUS) * 0.9)
TRAIN, HELD_OUT = CORPUS[:CUT], CORPUS[CUT:]
VOCAB = 1024


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(TRAIN, VOCAB)


def test_compression_on_held_out_text_is_within_3_percent_of_hugging_face(bpe):
    hf = hugging_face_bpe(TRAIN, VOCAB)
    assert bpe.vocab_size == hf.get_vocab_size() == VOCAB
    n_bytes = len(HELD_OUT.encode("utf-8"))
    ours = n_bytes / len(bpe.encode(HELD_OUT))
    theirs = n_bytes / len(hf.encode(HELD_OUT).ids)
    assert ours > 2.0  # bytes por token: lejos de 1 (sin fusiones)
    assert abs(ours / theirs - 1) <= 0.03, (ours, theirs)


CASES = [
    "",
    "¡Hola, pingüino! ¿Cómo estás?\n",
    "Σωκράτης, Москва, 東京, नमस्ते, مرحبا",  # alfabetos que no salen en el corpus
    "👩‍👩‍👧‍👦 👍🏽 🇪🇸 ❤️",  # emoji con ZWJ, tono de piel, bandera, selector de variante
    "cafe\u0301 n\u0303 a\u0308\u0301",  # acentos combinados (NFD), sin normalizar
    "línea uno\r\nlínea dos\r\n\r\n",
    "nulo:\x00\x00 y controles \x07\x1b[0m\t\v\f",
    "   espacios   al   final   ",
    "1234567890 3,14 1.000.000 ½ ² ٣",
    "snake_case __init__ a_b",
    "\ufeffBOM y \u200bancho cero y \U0010ffff",
]


@pytest.mark.parametrize("text", CASES)
def test_round_trip_on_text_never_seen_in_training(bpe, text):
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert bpe.decode_bytes(ids) == text.encode("utf-8")


# Cualquier texto Unicode que tenga UTF-8 (todo menos los sustitutos sueltos, abajo).
@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=200))
def test_round_trip_for_any_unicode_text(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


def test_lone_surrogates_are_refused_with_a_spanish_error(bpe):
    # Un sustituto suelto no tiene UTF-8: no hay bytes que codificar. Se rechaza (CharTokenizer
    # también rechaza lo que no puede codificar).
    text = "hola \ud800 y \udfff"
    assert bpe.unknown_chars(text) == ["\ud800", "\udfff"]
    with pytest.raises(TokenizerError, match="sustitutos sueltos") as err:
        bpe.encode(text)
    assert err.value.unknown_chars == ["\ud800", "\udfff"]
    with pytest.raises(TokenizerError, match="sustitutos sueltos"):
        BPETokenizer.train(text, 300)


def test_merges_never_cross_the_pre_split(bpe):
    texts = []
    for data in bpe.vocab[256:]:
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError:  # medio carácter: no es un trozo de texto
            pass
    assert len(texts) > 700
    crossing = [t for t in texts if len(SPLIT.findall(t)) != 1]
    assert not crossing, crossing[:10]
    assert " de" in texts and "ción" in texts  # palabras con su espacio delante, y sufijos


def test_the_training_text_is_encoded_with_the_learned_merges(bpe):
    # Codificar aplica las fusiones en el orden aprendido: el texto de entrenamiento usa todas
    # salvo las que solo eran un paso intermedio.
    used = set(bpe.encode(TRAIN))
    assert len(used & set(range(256, VOCAB))) > 0.9 * (VOCAB - 256)


def test_same_text_and_size_give_the_same_merges(bpe):
    assert BPETokenizer.train(TRAIN, VOCAB).merges == bpe.merges


def test_merges_do_not_depend_on_the_process_or_its_hash_seed():
    code = (
        "import hashlib, sys; from shared.bpe_tokenizer import BPETokenizer; "
        "t = open('data/tiny_spanish.txt', encoding='utf-8').read()[:20000]; "
        "print(hashlib.sha256(repr(BPETokenizer.train(t, 400).merges).encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_ties_go_to_the_lowest_pair_whatever_the_order_of_the_text():
    # « zz» y « yy»: cuatro pares, una vez cada uno. Gana el de ids más bajos: (32, 121) = « y».
    a = BPETokenizer.train(" zz yy", 262)
    b = BPETokenizer.train(" yy zz", 262)
    assert a.merges == b.merges
    assert a.merges[0] == (32, ord("y"))
    # La frecuencia va antes que el desempate: en « zzz yy», «zz» sale dos veces.
    assert BPETokenizer.train(" zzz yy", 257).merges == [(ord("z"), ord("z"))]


def test_training_stops_when_no_pairs_are_left():
    tok = BPETokenizer.train("ab ab", 1000)
    assert tok.vocab_size < 1000
    assert tok.encode("ab ab") == [tok.vocab.index(b"ab"), tok.vocab.index(b" ab")]


def test_the_simple_version_in_the_docs_learns_the_same_merges():
    doc = (ROOT / "docs" / "tokenizador.md").read_text(encoding="utf-8")
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "def train_simple" in b
    )
    scope: dict = {}
    exec(block, scope)
    text = CORPUS[:8000]
    assert scope["train_simple"](text, 330) == BPETokenizer.train(text, 330).merges


def test_partial_utf8_characters_decode_without_crashing():
    tok = BPETokenizer([])  # solo bytes: «ñ» son dos tokens, 0xC3 0xB1
    ids = tok.encode("año 😀")
    assert ids[1:3] == [0xC3, 0xB1]
    assert tok.decode(ids[:2]) == "a\ufffd"
    assert tok.decode_bytes(ids[:2]) == b"a\xc3"
    # Por partes, guardando los bytes a medias (lo que hará el streaming):
    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces = [decoder.decode(tok.token_bytes(i)) for i in ids]
    assert pieces[1] == "" and "".join(pieces) == "año 😀"
    for bad in (-1, 256, 10**9, True, "3"):
        with pytest.raises(TokenizerError, match="fuera del vocabulario"):
            tok.decode([bad])


def test_token_text_shows_spaces_and_partial_bytes():
    tok = BPETokenizer([(32, 0xC3), (256, 0xB1), (0xE2, 0x80), (0x0D, 10)])
    assert tok.token_text(ord("a")) == "a"
    assert tok.token_text(32) == "·"
    assert tok.token_text(10) == "↵"
    assert tok.token_text(0) == "<0x00>"
    assert tok.token_text(0xC3) == "<0xC3>"
    assert tok.token_text(256) == "·<0xC3>"
    assert tok.token_text(257) == "·ñ"
    assert tok.token_text(258) == "<0xE2><0x80>"
    assert tok.token_text(259) == "<0x0D>↵"
    assert BPETokenizer([(0xE2, 0x80), (256, 0x8D)]).token_text(257) == "<0xE2><0x80><0x8D>"


def test_persistence_as_plain_types_json_and_weights_only_checkpoint(bpe):
    data = bpe.to_dict()
    assert data == {"type": "bpe", "vocab_size": VOCAB, "merges": [list(p) for p in bpe.merges]}
    again = BPETokenizer.from_dict(json.loads(json.dumps(data)))
    assert again.merges == bpe.merges
    buf = io.BytesIO()
    torch.save({"vocab": data}, buf)
    buf.seek(0)
    loaded = BPETokenizer.from_dict(torch.load(buf, weights_only=True)["vocab"])
    assert loaded.encode(HELD_OUT) == bpe.encode(HELD_OUT)


def table(merges: object, vocab_size: object = None, **extra: object) -> dict:
    n = len(merges) if isinstance(merges, list) else 0
    return {
        "type": "bpe",
        "vocab_size": 256 + n if vocab_size is None else vocab_size,
        "merges": merges,
        **extra,
    }


BAD_TABLES = [
    (None, "formato desconocido"),
    ({"type": "char", "chars": ["a"]}, "formato desconocido"),
    ({"type": "bpe", "vocab_size": 256}, "no es una lista"),
    (table("97,98"), "no es una lista"),
    (table([[97, 98, 99]]), "fusión 0 no es un par de enteros"),
    (table([[97, "b"]]), "fusión 0 no es un par de enteros"),
    (table([[97.0, 98]]), "fusión 0 no es un par de enteros"),
    (table([[True, 98]]), "fusión 0 no es un par de enteros"),
    (table([[97, 98], 5]), "fusión 1 no es un par de enteros"),
    (table([[97, -1]]), "fuera del vocabulario"),
    (table([[97, 98], [256, 300]]), "fuera del vocabulario"),
    (table([[97, 257], [97, 98]]), "aún no existe"),
    (table([[97, 256]]), "aún no existe"),
    (table([[97, 98], [99, 100], [97, 98]]), "fusión 2 (97, 98) está repetida"),
    (table([[97, 98]], vocab_size=300), "dice tener 300 tokens"),
    (table([[97, 98]], vocab_size="257"), "dice tener '257' tokens"),
]


@pytest.mark.parametrize(("data", "message"), BAD_TABLES)
def test_bad_merge_tables_are_refused_with_a_spanish_error(data, message):
    with pytest.raises(TokenizerError, match=re.escape(message)):
        BPETokenizer.from_dict(data)


def test_train_refuses_a_vocabulary_smaller_than_the_bytes():
    with pytest.raises(TokenizerError, match="al menos 256 tokens"):
        BPETokenizer.train("hola", 100)

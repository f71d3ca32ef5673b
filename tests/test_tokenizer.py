import pytest

from shared.common.errors import TokenizerError
from shared.tokenizer import CharTokenizer

SPECIAL = "á é í ó ú ñ ü ¿ ¡ « » Á É Í Ó Ú Ñ Ü —"


def test_round_trip_with_spanish_characters():
    text = f"¡Hola, pingüino! ¿Cómo estás? «Señor», dijo. {SPECIAL}\n"
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert len(ids) == len(text)  # un carácter, un token (ñ no se parte en bytes)
    assert tok.decode(ids) == text
    for ch in SPECIAL.split():
        assert ch in tok.stoi


def test_vocabulary_is_sorted_and_deterministic():
    a = CharTokenizer.from_text("zyxñá")
    b = CharTokenizer.from_text("áñxyz" * 3)
    assert a.chars == b.chars == sorted("zyxñá")


def test_unknown_characters_are_named_in_the_error():
    tok = CharTokenizer.from_text("hola mundo")
    with pytest.raises(TokenizerError) as err:
        tok.encode("hola €mundo ☃ €")
    assert err.value.unknown_chars == ["€", "☃"]
    assert "'€'" in str(err.value) and "'☃'" in str(err.value)


def test_json_serialisable_round_trip():
    import json

    tok = CharTokenizer.from_text("¿año? ¡sí!")
    again = CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.chars == tok.chars
    assert again.encode("año") == tok.encode("año")


@pytest.mark.parametrize(
    "bad", [{"type": "bpe", "chars": ["a"]}, {"type": "char"}, {"type": "char", "chars": ["ab"]}]
)
def test_invalid_vocabulary_is_rejected(bad):
    with pytest.raises(TokenizerError):
        CharTokenizer.from_dict(bad)

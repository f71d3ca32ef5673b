"""Invariantes del corpus por defecto (data/tiny_spanish.txt)."""

import gzip
from collections import Counter

import pytest

from tests.helpers.cli import ROOT

CORPUS = ROOT / "data" / "tiny_spanish.txt"


@pytest.fixture(scope="module")
def raw() -> bytes:
    return CORPUS.read_bytes()


def test_size_and_encoding(raw):
    assert len(raw) >= 120_000
    raw.decode("utf-8")  # lanza si no es UTF-8 válido
    assert not raw.startswith(b"\xef\xbb\xbf")  # sin BOM


def test_spanish_letters_and_punctuation_present(raw):
    text = raw.decode("utf-8")
    counts = Counter(text)
    for ch in "áéíóúñü¿¡«»—ÁÉÍÓÚÑ":  # también las mayúsculas acentuadas
        assert counts[ch] > 0, f"falta {ch!r}"
    for ch in "áéíóñ¿¡—":
        assert counts[ch] >= 50, f"{ch!r} aparece solo {counts[ch]} veces"


def test_no_repeated_non_empty_line(raw):
    lines = [line for line in raw.decode("utf-8").splitlines() if line.strip()]
    repeated = [line for line, n in Counter(lines).items() if n > 1]
    assert not repeated, repeated[:5]


def test_compresses_like_ordinary_prose(raw):
    ratio = len(raw) / len(gzip.compress(raw, compresslevel=9))
    assert 2.3 <= ratio <= 3.8, ratio

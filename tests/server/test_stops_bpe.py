"""Paradas (``stop``) con trozos de varios caracteres, como los que da una BPE: la parada puede
empezar a mitad de un token, cruzar varios, y un token vacío (medio carácter UTF-8) no la
confunde. Sin servidor: el filtro con los trozos que le daría el motor."""

from __future__ import annotations

from collections.abc import Iterator

from server.stops import StopFilter
from shared.generation import GeneratedChar


def pieces(*texts: str) -> list[GeneratedChar]:
    return [GeneratedChar(text=t, token_id=i, prob=0.5, token=t) for i, t in enumerate(texts)]


def run(stops: list[str], *texts: str) -> tuple[list[str], StopFilter]:
    f = StopFilter(stops)
    return [p.text for p in f.run(iter(pieces(*texts)))], f


def test_a_stop_that_starts_inside_a_token_cuts_that_token() -> None:
    out, f = run(["mun"], "Hola", " mu", "ndo", " y", " más")
    assert "".join(out) == "Hola "
    assert out == ["Hola", " "]  # « mu» recortado a « »: nada de la parada llega al cliente
    assert f.finish_reason == "stop"
    assert f.produced == 3  # el modelo generó tres trozos; el tercero completó la parada


def test_a_stop_across_three_tokens_and_inside_the_last_one() -> None:
    out, f = run(["\n\nFIN"], "uno", "\n", "\nF", "INAL", "resto")
    assert "".join(out) == "uno"
    assert f.finish_reason == "stop"


def test_an_empty_piece_half_a_character_does_not_hide_a_stop() -> None:
    # Con bytes, «é» llega en dos tokens: el primero no tiene texto aún.
    out, f = run(["é."], "caf", "", "é", ".", "después")
    assert "".join(out) == "caf"
    assert f.finish_reason == "stop"


def test_pieces_that_might_start_a_stop_wait_and_then_flow() -> None:
    f = StopFilter(["ab"])
    source = iter(pieces("xa", "c", "ya"))
    seen: list[tuple[str, int]] = []  # (texto entregado, trozos ya leídos del motor)
    read = 0

    def counted() -> Iterator[GeneratedChar]:
        nonlocal read
        for p in source:
            read += 1
            yield p

    for p in f.run(counted()):
        seen.append((p.text, read))
    # «xa» termina en «a», que podría empezar «ab»: sale solo cuando llega «c» (lectura 2).
    # «ya» se retiene igual y sale al acabar el flujo, entero.
    assert seen == [("xa", 2), ("c", 2), ("ya", 3)]
    assert f.finish_reason == "length"

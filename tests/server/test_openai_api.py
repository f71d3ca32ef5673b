"""/v1/completions como la usan los clientes reales: el cliente oficial ``openai`` (con y sin
streaming) y cuerpos JSON tal como los muestra la referencia de la API de OpenAI, contra el
servidor real (gunicorn en loopback)."""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.helpers.server import PROMPT, ServerProcess, assert_error
from tests.helpers.sse import read_sse

# Ajustes con los que el texto varía (no siempre el mismo carácter) y se repite con la semilla.
SAMPLED = {"temperature": 0.8, "top_p": 0.95, "seed": 11}


@pytest.fixture
def client(server: ServerProcess) -> OpenAI:
    return OpenAI(base_url=server.url("/v1"), api_key="sin-clave", max_retries=0, timeout=60)


def _plain(server: ServerProcess, **body: Any) -> dict[str, Any]:
    resp = server.post("/v1/completions", {"prompt": PROMPT, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _stop_for(text: str) -> tuple[str, str]:
    """Una parada de dos caracteres que aparece en ``text`` pasado el principio, y el texto que
    debe quedar: hasta su primera aparición."""
    for start in range(5, len(text) - 2):
        stop = text[start : start + 2]
        if text.find(stop) >= 3:
            return stop, text[: text.find(stop)]
    raise AssertionError(f"no hay parada útil en {text!r}")


def test_official_client_completion_stop_and_ignored_fields(
    server: ServerProcess, client: OpenAI
) -> None:
    full = _plain(server, max_tokens=60, **SAMPLED)["choices"][0]["text"]
    stop, expected = _stop_for(full)
    raw = client.completions.with_raw_response.create(
        model="tiny", prompt=PROMPT, max_tokens=60, stop=[stop, "\u00a7\u00a7"],
        user="alumna-3", frequency_penalty=0.0, presence_penalty=0.0, **SAMPLED,  # type: ignore[arg-type]
    )  # fmt: skip
    ignored = set(raw.headers["x-ignored-fields"].split(", "))
    assert ignored == {"user", "frequency_penalty", "presence_penalty"}
    out = raw.parse()
    assert out.object == "text_completion" and out.model == "tiny"
    choice = out.choices[0]
    assert choice.text == expected and choice.finish_reason == "stop"
    assert stop not in choice.text
    # Lo que generó el modelo cuenta (también la parada), como en OpenAI.
    assert out.usage is not None and out.usage.completion_tokens >= len(expected) + len(stop)
    assert "campos ignorados" in server.log() and "frequency_penalty" in server.log()
    # Sin parada en el texto: acaba por longitud.
    free = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=60, stop="€€",
                                     **SAMPLED)  # type: ignore[arg-type]  # fmt: skip
    assert free.choices[0].text == full and free.choices[0].finish_reason == "length"


def test_official_client_stream_holds_back_a_possible_stop(
    server: ServerProcess, client: OpenAI
) -> None:
    full = _plain(server, max_tokens=80, **SAMPLED)["choices"][0]["text"]
    stop, expected = _stop_for(full)
    chunks = list(client.completions.create(
        model="tiny", prompt=PROMPT, max_tokens=80, stop=stop, stream=True,
        stream_options={"include_usage": True}, **SAMPLED,  # type: ignore[arg-type]
    ))  # fmt: skip
    texts = [c.choices[0].text for c in chunks if c.choices]
    # Exactamente el texto hasta la parada: su primer carácter se retuvo hasta saber que la
    # seguía el segundo (sin retener, habría salido antes de saberlo).
    assert "".join(texts) == expected
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] == "stop" and set(finals[:-1]) == {None}
    assert not chunks[-1].choices and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == len(PROMPT)
    # Sin parada, el streaming da el mismo texto que la respuesta entera.
    plain = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=80, stream=True,
                                      **SAMPLED)  # type: ignore[arg-type]  # fmt: skip
    assert "".join(c.choices[0].text for c in plain) == full


def test_logprobs_are_the_sampled_distribution(server: ServerProcess, client: OpenAI) -> None:
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=25, logprobs=3,
                                    echo=True, **SAMPLED)  # type: ignore[arg-type]  # fmt: skip
    choice = out.choices[0]
    lp = choice.logprobs
    assert lp is not None and lp.tokens is not None and lp.token_logprobs is not None
    assert lp.top_logprobs is not None and lp.text_offset is not None
    assert choice.text.startswith(PROMPT) and "".join(lp.tokens) == choice.text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(PROMPT) + 25
    assert lp.text_offset == list(range(len(choice.text)))
    # echo: el prompt va sin puntuar; lo generado, con su log p y sus 3 alternativas.
    assert lp.token_logprobs[: len(PROMPT)] == [None] * len(PROMPT)
    generated = list(zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True))[len(PROMPT) :]
    # Las mismas probabilidades que /generate con top_probs (tras temperatura y top_p).
    same = server.post("/generate", {"prompt": PROMPT, "max_new_tokens": 25, "top_probs": 3,
                                     **SAMPLED}).json()  # fmt: skip
    assert choice.text[len(PROMPT) :] == same["text"]
    for (token, logprob, top), step in zip(generated, same["chars"], strict=True):
        assert token == step["text"] and logprob is not None and logprob <= 0
        assert top is not None and len(top) == 3
        assert {c: pytest.approx(math.exp(v), abs=1e-6) for c, v in top.items()} == {
            t["char"]: t["prob"] for t in step["top"]
        }
        if token in top:
            assert logprob == pytest.approx(top[token], abs=1e-4)
    # Temperatura 0: el elegido tiene probabilidad 1 y las demás, 0 (no se listan).
    greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=5, logprobs=2,
                                       temperature=0)  # fmt: skip
    glp = greedy.choices[0].logprobs
    assert glp is not None and glp.token_logprobs == [0.0] * 5
    assert glp.top_logprobs is not None
    assert all(top == {t: 0.0} for top, t in zip(glp.top_logprobs, glp.tokens or [], strict=True))
    # En streaming, cada trozo lleva las suyas, con su posición en el texto.
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=10,
                                            logprobs=1, stream=True, **SAMPLED))  # type: ignore[arg-type]  # fmt: skip
    offsets = [
        o for c in chunks if c.choices[0].logprobs for o in c.choices[0].logprobs.text_offset or []
    ]
    assert offsets == list(range(10))


def test_prompt_list_and_n_number_choices_like_openai(
    server: ServerProcess, client: OpenAI
) -> None:
    prompts = [PROMPT, "El mar"]
    out = client.completions.create(model="tiny", prompt=prompts, n=2, max_tokens=12, **SAMPLED)  # type: ignore[arg-type]
    assert [c.index for c in out.choices] == [0, 1, 2, 3]
    # index = p * n + i; la muestra i de cada prompt usa seed + i.
    for p, prompt in enumerate(prompts):
        for i in range(2):
            alone = _plain(server, prompt=prompt, max_tokens=12, **{**SAMPLED, "seed": 11 + i})
            assert out.choices[p * 2 + i].text == alone["choices"][0]["text"]
    assert out.usage is not None and out.usage.prompt_tokens == len(PROMPT) + len("El mar")
    streamed = list(client.completions.create(model="tiny", prompt=prompts, max_tokens=12,
                                              stream=True, **SAMPLED))  # type: ignore[arg-type]  # fmt: skip
    by_index: dict[int, str] = {}
    for c in streamed:
        by_index[c.choices[0].index] = by_index.get(c.choices[0].index, "") + c.choices[0].text
    assert by_index == {0: out.choices[0].text, 1: out.choices[2].text}


def test_suffix_and_chat_are_refused_clearly(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model="tiny", prompt=PROMPT, suffix="fin.")
    assert bad.value.status_code == 400
    assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "suffix"
    assert "'suffix' no se admite" in bad.value.body["message"]
    with pytest.raises(openai.NotFoundError) as chat:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hola"}])
    body = chat.value.body
    assert isinstance(body, dict) and body["type"] == "unsupported"
    assert "modelo base" in body["message"] and "/v1/completions" in body["message"]


# Los cuerpos de la referencia de la API de OpenAI (Completions), con el modelo cambiado por el
# del servidor.
REFERENCE_BODY = {"model": "tiny", "prompt": "Say this is a test", "max_tokens": 7,
                  "temperature": 0}  # fmt: skip
REFERENCE_ALL_FIELDS = {
    "model": "tiny", "prompt": "Say this is a test", "suffix": None, "max_tokens": 7,
    "temperature": 1, "top_p": 1, "n": 1, "stream": False, "logprobs": None, "echo": False,
    "stop": "\n", "presence_penalty": 0, "frequency_penalty": 0, "best_of": 1, "logit_bias": None,
    "user": "user-1234", "seed": None,
}  # fmt: skip


def test_raw_bodies_from_the_api_reference(server: ServerProcess) -> None:
    resp = server.post("/v1/completions", REFERENCE_BODY)
    assert resp.status_code == 200, resp.text
    assert "X-Ignored-Fields" not in resp.headers
    body = resp.json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert set(body["choices"][0]) == {"text", "index", "logprobs", "finish_reason"}
    assert len(body["choices"][0]["text"]) == 7 and body["choices"][0]["logprobs"] is None
    events = read_sse(
        server.post("/v1/completions", {**REFERENCE_BODY, "stream": True}, stream=True)
    )
    assert events[-1] == ("message", "[DONE]")
    assert "".join(e[1]["choices"][0]["text"] for e in events[:-1]) == body["choices"][0]["text"]
    every = server.post("/v1/completions", REFERENCE_ALL_FIELDS)
    assert every.status_code == 200, every.text
    assert every.headers["X-Ignored-Fields"] == (
        "presence_penalty, frequency_penalty, best_of, logit_bias, user"
    )
    assert "\n" not in every.json()["choices"][0]["text"]
    # max_tokens: 16 si falta o es null, como OpenAI.
    for default in ({"prompt": PROMPT}, {"prompt": PROMPT, "max_tokens": None}):
        assert len(_plain(server, **default)["choices"][0]["text"]) == 16


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "como mucho 4 paradas"),
        ({"stop": ""}, "stop", "entre 1 y 64"),
        ({"stop": ["a", "x" * 65]}, "stop", "entre 1 y 64"),
        ({"stop": [1]}, "stop", "lista de textos"),
        ({"logprobs": 6}, "logprobs", "menor o igual que 5"),
        ({"prompt": ["a"] * 5}, "prompt", "de 1 a 4"),
        ({"prompt": []}, "prompt", "de 1 a 4"),
        ({"prompt": [[1, 2]]}, "prompt", "texto"),
    ],
)
def test_new_fields_are_validated(
    server: ServerProcess, body: dict[str, Any], param: str, fragment: str
) -> None:
    err = assert_error(server.post("/v1/completions", body), 422, "validation_error", param)
    assert fragment in err["message"], err


def test_generate_stops_too(server: ServerProcess) -> None:
    base = {"prompt": PROMPT, "max_new_tokens": 60, **SAMPLED}
    full = server.post("/generate", base).json()
    assert full["finish_reason"] == "length"
    stop, expected = _stop_for(full["text"])
    cut = server.post("/generate", {**base, "stop": [stop]}).json()
    assert cut["text"] == expected and cut["finish_reason"] == "stop"
    assert cut["usage"]["generated_chars"] == len(expected)
    events = read_sse(server.post("/generate", {**base, "stop": stop, "stream": True}, stream=True))
    assert "".join(d["text"] for name, d in events if name == "message") == expected
    assert events[-1][0] == "done" and events[-1][1]["finish_reason"] == "stop"

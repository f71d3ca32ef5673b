"""El playground con un GPT BPE en Chromium sin ventana: el texto que se ve es el de la API
(el streaming no parte caracteres UTF-8), la vista de probabilidades muestra tokens, y el mapa
de atención pone una etiqueta por token. Marca ``browser`` (``make test-browser``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.browser import launch, open_page
from tests.helpers.checkpoints import DATA
from tests.helpers.cli import TINY_GPT_ARGS, run_module
from tests.helpers.server import ServerProcess, one_worker

pytestmark = pytest.mark.browser

PROMPT = "Había una vez un niño"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch()


@pytest.fixture(scope="module")
def bpe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    d = tmp_path_factory.mktemp("bpe-playground")
    run_module(
        "trainer", *TINY_GPT_ARGS, "--tokenizer", "bpe", "--vocab-size", "320",
        "--data", str(DATA), "--max-steps", "20", "--checkpoint-dir", str(d),
        "--run-name", "bpe", "--seed", "1337", timeout=300, check=True,
    )  # fmt: skip
    with one_worker(tmp_path_factory.mktemp("srv-bpe-pg"), d) as srv:
        yield srv


def test_bpe_text_probabilities_and_attention_in_the_playground(
    browser,
    bpe_server: ServerProcess,  # noqa: ANN001, F811
) -> None:
    from playwright.sync_api import expect

    for page in open_page(browser, bpe_server.url("/"), 1400):
        expect(page.locator("#model")).to_have_attribute("data-state", "ready")
        # La pérdida de un modelo BPE es por token (~2 caracteres): la etiqueta lo dice, en la
        # insignia y en los selectores del laboratorio, para no compararla con la de caracteres.
        expect(page.locator("#model")).to_contain_text("por token BPE")
        expect(page.locator("#model-a option").first).to_contain_text("por token BPE")
        page.fill("#prompt", PROMPT)
        page.fill("#seed", "3")
        page.locator("#max-tokens").fill("30")
        page.check("#show-probs")
        page.click("#generate")
        expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=30_000)
        shown = "".join(page.locator("#output .gen").all_text_contents())
        body = {"prompt": PROMPT, "max_new_tokens": 30, "temperature": 0.8, "top_k": 0,
                "top_p": 1.0, "seed": 3}  # fmt: skip
        api = bpe_server.post("/generate", body).json()
        # Lo mismo que la API, byte a byte: el streaming no partió ningún carácter (un modelo de
        # 20 pasos aún escribe bytes sueltos, que salen como «�» en los dos sitios).
        assert shown == api["text"]
        assert api["usage"]["generated_tokens"] == 30
        assert api["usage"]["generated_chars"] > 30  # BPE: más de un carácter por token
        # Los candidatos son tokens del vocabulario, escritos como texto visible (· = espacio).
        rows = page.locator("#probs-bars .bar-row")
        expect(page.locator("#probs-bars .bar-row.chosen")).to_have_count(1)
        assert rows.count() in (8, 9)  # 8 candidatos, más el elegido si no estaba entre ellos
        texts = rows.all_text_contents()
        assert all(t.strip() for t in texts), texts
        assert any(len(t.split()[0]) > 1 for t in texts), texts  # alguno de varios caracteres
        # El mapa de atención: una etiqueta por token del prompt, no por carácter.
        page.fill("#attn-prompt", "la casa de")
        page.click("#attn-go")
        att = bpe_server.post("/attention", {"prompt": "la casa de"}).json()
        assert len(att["chars"]) < len("la casa de")
        expect(page.locator("#attn-chars .attn-char")).to_have_count(len(att["chars"]))

"""El playground en Chromium sin ventana (el de Debian, manejado con Playwright).

Necesita /usr/bin/chromium: ``bash tests/install_system_deps.sh`` lo instala. Se ejecuta con
``make test-browser`` (marca ``browser``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from srv_helpers import ServerProcess

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def page(server: ServerProcess) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "falta Chromium: ejecuta bash tests/install_system_deps.sh"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url("/"))
        yield page
        browser.close()
        assert errors == [], f"errores de JavaScript en la página: {errors}"


def test_playground_streams_generated_text(page, server: ServerProcess) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    expect(page.locator("#model")).to_contain_text("paso 40")
    expect(page.locator("#model")).to_have_attribute("data-state", "ready")
    expect(page.locator("#api-key-row")).to_be_hidden()  # este servidor no tiene API_KEY
    page.fill("#prompt", "Hola")
    page.fill("#seed", "7")
    page.locator("#max-tokens").fill("120")
    page.click("#generate")
    expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=30_000)
    generated = page.locator("#output .gen")
    expect(generated).to_have_count(120)
    text = "".join(generated.all_text_contents())
    # Lo que muestra la página es lo mismo que da la API con la misma semilla y ajustes.
    body = {"prompt": "Hola", "max_new_tokens": 120, "temperature": 0.8, "top_k": 0,
            "top_p": 1.0, "seed": 7}  # fmt: skip
    assert text == server.post("/generate", body).json()["text"]
    expect(page.locator("#output .prompt")).to_have_text("Hola")
    expect(page.locator("#status")).to_contain_text("semilla 7")


def test_probability_view_shows_candidates(page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.check("#show-probs")
    page.locator("#top-k").fill("5")
    page.locator("#max-tokens").fill("40")
    page.click("#generate")
    expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(page.locator("#probs")).to_be_visible()
    rows = page.locator("#probs-bars .bar-row")
    expect(rows).to_have_count(8)  # top_probs = 8 candidatos por carácter
    # Con top-k = 5 solo 5 candidatos tienen probabilidad; el elegido va marcado.
    pcts = [float(t.split()[0]) for t in page.locator("#probs-bars .pct").all_text_contents()]
    assert sum(p > 0 for p in pcts) == 5 and abs(sum(pcts) - 100) < 0.5
    expect(page.locator("#probs-bars .bar-row.chosen")).to_have_count(1)
    # Pulsar un carácter anterior muestra su propio reparto.
    page.locator("#output .gen").nth(3).click()
    expect(page.locator("#output .gen.selected")).to_have_count(1)
    expect(page.locator("#probs-title")).to_contain_text("Candidatos tras")
    shot = os.environ.get("PLAYGROUND_SCREENSHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)

"""Chromium sin ventana (el de Debian, manejado con Playwright) para las pruebas del playground.

Necesita /usr/bin/chromium: ``bash tests/install_system_deps.sh`` lo instala.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


def launch() -> Iterator[object]:
    """Un Chromium (la API síncrona de Playwright admite uno a la vez por módulo de pruebas)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "falta Chromium: ejecuta bash tests/install_system_deps.sh"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str, height: int, width: int = 1280) -> Iterator[object]:  # noqa: ANN001
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    yield page
    page.close()
    assert errors == [], f"errores de JavaScript en la página: {errors}"

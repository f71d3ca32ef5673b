"""El playground en Chromium sin ventana (el de Debian, manejado con Playwright).

Necesita /usr/bin/chromium: ``bash tests/install_system_deps.sh`` lo instala. Se ejecuta con
``make test-browser`` (marca ``browser``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.browser import launch, open_page
from tests.helpers.server import ServerProcess, one_worker

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch()


@pytest.fixture(scope="module")
def page(browser, server: ServerProcess) -> Iterator[object]:  # noqa: ANN001
    yield from open_page(browser, server.url("/"), 900)


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


def test_probability_view_shows_candidates(page, server) -> None:  # noqa: ANN001
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
    # Los porcentajes se escriben a la española (27,6 %).
    texts = page.locator("#probs-bars .pct").all_text_contents()
    pcts = [float(t.split()[0].replace(",", ".")) for t in texts]
    assert sum(p > 0 for p in pcts) == 5 and abs(sum(pcts) - 100) < 0.5
    expect(page.locator("#probs-bars .bar-row.chosen")).to_have_count(1)
    # La pérdida del modelo, redondeada para personas y con coma decimal (no 2.27152873897882).
    loss = server.get("/info").json()["model"]["val_loss"]
    shown = "pérdida val. " + f"{loss:.2f}".replace(".", ",") + " por carácter"
    expect(page.locator("#model")).to_contain_text(shown)
    # Pulsar un carácter anterior muestra su propio reparto.
    page.locator("#output .gen").nth(3).click()
    expect(page.locator("#output .gen.selected")).to_have_count(1)
    expect(page.locator("#probs-title")).to_contain_text("Candidatos tras")
    shot = os.environ.get("PLAYGROUND_SCREENSHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)


@pytest.fixture(scope="module")
def lab_server(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Varios modelos (tests/server/conftest.py: models_dir), un worker."""
    with one_worker(tmp_path_factory.mktemp("srv-lab"), models_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def lab_page(browser, lab_server: ServerProcess) -> Iterator[object]:  # noqa: ANN001
    yield from open_page(browser, lab_server.url("/"), 1400)


def test_compare_mode_streams_two_models_side_by_side(lab_page, lab_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page = lab_page
    expect(page.locator("#model-a option")).to_have_count(6)
    page.select_option("#model-a", "bigrama")
    page.select_option("#model-b", "gpt-a")
    page.fill("#prompt", "Hola")
    page.fill("#seed", "5")
    page.locator("#max-tokens").fill("50")
    page.click("#compare")
    for side in ("a", "b"):
        expect(page.locator(f"#compare-{side}-status")).to_have_attribute(
            "data-state", "done", timeout=30_000
        )
    body = {"prompt": "Hola", "max_new_tokens": 50, "temperature": 0.8, "top_k": 0,
            "top_p": 1.0, "seed": 5}  # fmt: skip
    texts = {}
    for side, model in (("a", "bigrama"), ("b", "gpt-a")):
        texts[model] = "".join(page.locator(f"#compare-{side} .gen").all_text_contents())
        assert texts[model] == lab_server.post("/generate", {**body, "model": model}).json()["text"]
    assert texts["bigrama"] != texts["gpt-a"]


def test_attention_map_follows_the_hovered_character(lab_page, lab_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page = lab_page
    page.select_option("#attn-model", "gpt-a")
    page.fill("#attn-prompt", "la casa")
    page.click("#attn-go")
    chars = page.locator("#attn-chars .attn-char")
    expect(chars).to_have_count(7)
    api = lab_server.post("/attention", {"prompt": "la casa", "model": "gpt-a"}).json()
    chars.nth(4).hover()
    expect(chars.nth(4)).to_have_class("attn-char query")
    rows = page.locator("#attn-heads .attn-row")
    expect(rows).to_have_count(2)  # 1 capa × 2 cabezas
    for h in range(2):
        cells = rows.nth(h).locator(".attn-cell")
        shown = [float(w) for w in cells.evaluate_all("els => els.map(e => e.dataset.weight)")]
        assert shown[5:] == [0.0, 0.0]  # el futuro, tapado
        assert shown[:5] == pytest.approx(api["layers"][0][h][4][:5], abs=1e-4)
        assert sum(shown) == pytest.approx(1.0, abs=1e-3)


def test_loss_curve_updates_while_the_trainer_writes(lab_page, models_dir: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page = lab_page
    page.select_option("#curve-model", "gpt-b")
    curve = page.locator("#loss-curve")
    expect(curve.locator("path[data-series='val_loss']")).to_have_count(1, timeout=10_000)
    before = int(curve.get_attribute("data-points") or "0")
    assert before > 0
    with (models_dir / "gpt-b.metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"step": 30, "train_loss": 2.0, "val_loss": 2.1}\n')
    expect(curve).to_have_attribute("data-points", str(before + 2), timeout=10_000)
    expect(page.locator("#curve-status")).to_contain_text("último paso 30")
    out = Path(os.environ.get("PLAYGROUND_LAB_SCREENSHOT", "build/playground-lab.png"))
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000


@pytest.fixture(scope="module")
def class_page(browser, class_dirs: Path, tmp_path_factory) -> Iterator[object]:  # noqa: ANN001
    """``make serve`` tras ``make train-bigram`` y dos ``make train``: sirve checkpoints/gpt
    (con dos GPT: el de por defecto es clase-2, el último) y su hermana checkpoints/bigram
    (tests/server/conftest.py: class_dirs)."""
    root = tmp_path_factory.mktemp("clase-web") / "checkpoints"
    shutil.copytree(class_dirs.parent, root)
    shutil.copy(root / "gpt" / "clase.pt", root / "gpt" / "clase-2.pt")
    with one_worker(tmp_path_factory.mktemp("srv-clase-web"), root / "gpt") as srv:
        for page in open_page(browser, srv.url("/"), 1400):
            yield page, srv


def test_compare_preselects_bigram_vs_gpt_from_their_folders(class_page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page, srv = class_page
    # Sin tocar las listas: A es el bigrama (de checkpoints/bigram), B el GPT que se sirve
    # (no el otro GPT, aunque sea el primero de la lista que no es el de por defecto).
    expect(page.locator("#model-a option")).to_have_count(3)
    expect(page.locator("#model-a")).to_have_value("bigram:clase")
    expect(page.locator("#model-b")).to_have_value("clase-2")
    page.fill("#prompt", "Hola")
    page.fill("#seed", "3")
    page.locator("#max-tokens").fill("80")
    page.click("#compare")
    for side in ("a", "b"):
        expect(page.locator(f"#compare-{side}-status")).to_have_attribute(
            "data-state", "done", timeout=30_000
        )
    expect(page.locator("#compare-a-title")).to_have_text("bigram:clase")
    body = {"prompt": "Hola", "max_new_tokens": 80, "temperature": 0.8, "top_k": 0,
            "top_p": 1.0, "seed": 3}  # fmt: skip
    texts = {}
    for side, model in (("a", "bigram:clase"), ("b", "clase-2")):
        texts[model] = "".join(page.locator(f"#compare-{side} .gen").all_text_contents())
        assert texts[model] == srv.post("/generate", {**body, "model": model}).json()["text"]
    assert texts["bigram:clase"] != texts["clase-2"]
    # La sugerencia de «Comparar» solo nombra lo que una clase encuentra en las listas: los
    # tipos de modelo que nombra están, y ningún paso que no tenga un checkpoint listado.
    hint = page.locator("#lab .panel .hint").first.inner_text()
    options = page.locator("#model-a option").all_inner_texts()
    for word, kind in (("bigrama", "· bigram ·"), ("GPT", "· gpt ·")):
        if word in hint:
            assert any(kind in o for o in options), (hint, options)
    for step in re.findall(r"\d+", hint):
        assert any(f"paso {step} " in o for o in options), (hint, options)
    out = Path(os.environ.get("PLAYGROUND_COMPARE_SCREENSHOT", "build/playground-compare.png"))
    out.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#lab").screenshot(path=str(out))
    assert out.stat().st_size > 10_000


# --- En un proyector: 1024 × 768 y 1280 × 800 con un bigrama y un GPT --------------------------

PROJECTOR_SIZES = [(1024, 768), (1280, 800)]
# Lo que una clase toca o lee en «Comparar», «Curva de pérdida» y «Mapa de atención».
LAB_CONTROLS = [
    "#model-a", "#model-b", "#compare", "#compare-a", "#compare-b", "#curve-model",
    "#loss-curve", "#attn-prompt", "#attn-model", "#attn-go", "#attn-heads",
]  # fmt: skip
MIN_TEXT_PX = 16  # texto de ayuda y cuerpo
MIN_LABEL_PX = 14  # etiquetas pequeñas y números de los ejes

# Texto visible de la página por debajo del mínimo: [tamaño, etiqueta, clase, texto].
SMALL_TEXT_JS = """([minText, minLabel]) => {
  const small = [];
  const svg = document.getElementById("loss-curve");
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden") continue;
    let px = parseFloat(style.fontSize);
    if (el instanceof SVGElement) px *= scale;  // la figura se escala con su viewBox
    const help = el.matches(".hint, .hint *, small, .status, .output, .output *, label");
    const min = help ? minText : minLabel;
    if (px < min - 0.01) small.push([px, el.tagName, el.className, el.textContent.slice(0, 30)]);
  }
  return small;
}"""


@pytest.fixture(scope="module")
def projector_server(class_dirs: Path, tmp_path_factory) -> Iterator[ServerProcess]:  # noqa: ANN001
    """``make train-bigram`` y ``make train`` con sus nombres de verdad (con fecha: son los que
    alargan las listas) en checkpoints/bigram y checkpoints/gpt."""
    root = tmp_path_factory.mktemp("proyector") / "checkpoints"
    shutil.copytree(class_dirs.parent, root)
    (root / "gpt" / "clase.pt").rename(root / "gpt" / "gpt-20261203-101500.pt")
    (root / "bigram" / "clase.pt").rename(root / "bigram" / "bigram-20261203-100000.pt")
    # Una evaluación en el paso 2000, como deja «make train»: la etiqueta del último paso es
    # ancha («2000») y se cortaba en el borde de la figura.
    with (root / "gpt" / "tiny.metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"step": 2000, "train_loss": 1.45, "val_loss": 1.68}\n')
    with one_worker(tmp_path_factory.mktemp("srv-proyector"), root / "gpt") as srv:
        yield srv


def assert_inside_viewport(page, selectors: list[str]) -> None:  # noqa: ANN001
    width = page.evaluate("innerWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"la página mide {scroll} px de ancho en una ventana de {width} px"
    for sel in selectors:
        loc = page.locator(sel)
        loc.scroll_into_view_if_needed()
        box = loc.bounding_box()
        assert box is not None, f"{sel} no se ve"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (sel, box, width)


@pytest.mark.parametrize(("width", "height"), PROJECTOR_SIZES)
def test_playground_fits_a_projector(browser, projector_server, width, height) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    for page in open_page(browser, projector_server.url("/"), height, width):
        expect(page.locator("#model-a option")).to_have_count(2)
        expect(page.locator("#model-a")).to_have_value("bigram:bigram-20261203-100000")
        page.fill("#prompt", "Había una vez")
        page.locator("#max-tokens").fill("60")
        page.click("#compare")
        for side in ("a", "b"):
            expect(page.locator(f"#compare-{side}-status")).to_have_attribute(
                "data-state", "done", timeout=30_000
            )
        # 32 caracteres: el contexto entero del GPT de prueba (--block-size 32), la fila más ancha.
        page.fill("#attn-prompt", "En un lugar de la Mancha, de cuy")
        page.click("#attn-go")
        expect(page.locator("#attn-heads .attn-row")).to_have_count(2)
        curve = page.locator("#loss-curve")
        expect(curve.locator("path[data-series='val_loss']")).to_have_count(1, timeout=10_000)
        assert_inside_viewport(page, LAB_CONTROLS + ["#generate", "#stop", "#prompt"])

        # La leyenda de la curva: cada línea con su muestra, del mismo color y trazo.
        for key in ("train_loss", "val_loss"):
            line, sample = (
                curve.locator(f"[data-series='{key}']").evaluate(
                    "e => [getComputedStyle(e).stroke, getComputedStyle(e).strokeDasharray]"
                ),
                curve.locator(f"[data-legend='{key}']").evaluate(
                    "e => [getComputedStyle(e).stroke, getComputedStyle(e).strokeDasharray]"
                ),
            )
            assert sample == line, (key, sample, line)
        # Ninguna etiqueta de la curva se sale de su figura (el último paso, «2000», se cortaba).
        outside = curve.evaluate(
            """svg => { const b = svg.getBoundingClientRect();
              return [...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect())
                .filter(r => r.left < b.left - 0.5 || r.right > b.right + 0.5).length; }"""
        )
        assert outside == 0
        # Los números, a la española: «2,30», no «2.30» (ni en la curva ni en las listas).
        ticks = curve.locator("text.tick").all_text_contents()
        assert any("," in t for t in ticks) and not any("." in t for t in ticks), ticks
        assert "," in page.locator("#model-a option").first.text_content()

        # El bigrama apenas cambia entre evaluaciones: su eje y abarca al menos 1 nat, para que
        # el ruido no parezca aprendizaje (antes iba de 2,30 a 2,32).
        page.select_option("#curve-model", "bigram:bigram-20261203-100000")
        expect(page.locator("#curve-status")).to_contain_text("último paso 30")
        ys = [float(t.replace(",", ".")) for t in curve.locator("text.tick").all_text_contents()]
        ys = ys[:-1]  # la última marca es el paso del eje x (una sola evaluación)
        assert max(ys) - min(ys) >= 1.0, ys

        small = page.evaluate(SMALL_TEXT_JS, [MIN_TEXT_PX, MIN_LABEL_PX])
        assert small == [], f"texto demasiado pequeño para un proyector: {small}"

        out = Path(f"build/playground-{width}.png")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000


def test_probability_view_marks_a_sampled_char_outside_the_top(browser, projector_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    for page in open_page(browser, projector_server.url("/"), 800):
        page.check("#show-probs")
        page.locator("#temperature").fill("2")  # casi uniforme: sale a menudo uno poco probable
        page.fill("#seed", "11")
        page.locator("#max-tokens").fill("80")
        page.click("#generate")
        expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=30_000)
        # Un carácter generado que no está entre los 8 candidatos más probables.
        outside = page.locator("#output .gen").evaluate_all(
            """els => els.findIndex(e =>
              !JSON.parse(e.dataset.top).slice(0, 8).some(t => t.char === e.dataset.char))"""
        )
        assert outside >= 0, "con temperatura 2 todos salieron del top 8: cambia la semilla"
        span = page.locator("#output .gen").nth(outside)
        span.click()
        rows = page.locator("#probs-bars .bar-row")
        expect(rows).to_have_count(9)  # los 8 de siempre y, aparte, el que salió
        chosen = page.locator("#probs-bars .bar-row.chosen")
        expect(chosen).to_have_count(1)
        char = span.text_content()
        shown_as = {" ": "␣", "\n": "↵", "\t": "⇥"}.get(char, char)  # visible() de playground.js
        expect(chosen.locator(".char")).to_have_text(shown_as)
        expect(chosen.locator(".pct")).to_contain_text("%")
        expect(rows.nth(8)).to_have_class("bar-row chosen extra")

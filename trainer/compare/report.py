"""La tabla (Markdown y JSON) y la página HTML que junta figuras, tabla y muestras."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from shared.common.spanish_numbers import fmt_float, fmt_int, fmt_short
from trainer.compare.plan import Sweep
from trainer.compare.runs import write_json_atomic

COLUMNS = (
    ("label", "ejecución"),
    ("block_size", "bloque"),
    ("n_layer", "capas"),
    ("n_head", "cabezas"),
    ("params", "parámetros"),
    ("val_loss", "pérdida val (nats/car.)"),
    ("bits_per_char", "bits/carácter"),
    ("chars_per_token", "car./token"),
    ("seconds", "tiempo (s)"),
    ("tokens_per_second", "tokens/s"),
    ("origin", "origen"),
)


def cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if row["model"] == "bigram" and key in ("block_size", "n_layer", "n_head"):
        return "—"  # el bigrama solo mira el último carácter: no tiene ni bloque ni capas
    if key == "origin":
        return "reutilizada" if row["reused"] else "entrenada ahora"
    if key in ("val_loss", "bits_per_char"):
        return fmt_float(value, 3)
    if key == "chars_per_token":
        return fmt_float(value, 2)
    if key == "seconds":
        return fmt_float(value, 1)
    if key in ("params", "tokens_per_second"):
        return fmt_int(value)
    return str(value)


def sweep_table(sweeps: tuple[Sweep, ...], runs: dict[str, dict[str, Any]]) -> list[dict]:
    return [
        {
            "setting": s.setting,
            "title": s.title,
            "points": [
                {"value": v, "run": name, "val_loss": runs[name]["val_loss"]}
                for v, name in s.points
                if name in runs
            ],
        }
        for s in sweeps
    ]


def write_json(summary: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "resultados.json"
    write_json_atomic(path, summary)
    return path


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "# Comparación: bigrama frente a mini GPT",
        "",
        intro_text(summary),
        "",
        f"![El bigrama frente al GPT]({summary['figures']['bigram_vs_gpt']})",
        "",
        f"![Curvas de pérdida]({summary['figures']['curves']})",
        "",
        f"![Barrido]({summary['figures']['sweeps']})",
        "",
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in summary["runs"]:
        lines.append("| " + " | ".join(cell(row, key) for key, _ in COLUMNS) + " |")
    lines += ["", *tokenizer_markdown(summary)]
    lines += ["", "## Muestras", ""]
    for row in summary["runs"]:
        lines += [f"### {row['label']}", ""]
        for s in row["samples"]:
            lines += [f"- T={fmt_short(s['temperature'])}, top-k={s['top_k'] or 'sin límite'}:", ""]
            lines += ["  ```text", *("  " + t for t in (s["prompt"] + s["text"]).split("\n"))]
            lines += ["  ```", ""]
    return "\n".join(lines) + "\n"


def tokenizer_table(summary: dict[str, Any]) -> list[list[str]]:
    """Las cifras de caracteres frente a BPE: cabecera y una fila por tokenizador."""
    head = ["tokenizador", "vocabulario", "car./token", "caracteres por bloque",
            "embedding / parámetros", "bits/carácter", "tiempo de los pasos (s)",
            "tokens de la frase"]  # fmt: skip
    rows = [head]
    for t in summary["tokenizers"]["rows"]:
        rows.append(
            [
                t["label"],
                str(t["vocab_size"]),
                fmt_float(t["chars_per_token"], 2),
                fmt_float(t["chars_per_block"], 0),
                fmt_float(100 * t["embedding_share"], 1) + " %",
                fmt_float(t["bits_per_char"], 3),
                fmt_float(t["train_seconds"], 1),
                str(len(t["sentence_tokens"])),
            ]
        )
    return rows


def tokenizer_markdown(summary: dict[str, Any]) -> list[str]:
    table = tokenizer_table(summary)
    lines = [
        "## Caracteres frente a BPE",
        "",
        "El GPT de la semilla con otro tokenizador: mismos pasos y lotes (los mismos tokens "
        "vistos). Se comparan los bits por carácter, nunca la pérdida por token.",
        "",
        f"![Bits por carácter frente al tiempo]({summary['figures']['bits_vs_time']})",
        "",
        "| " + " | ".join(table[0]) + " |",
        "|" + "|".join("---" for _ in table[0]) + "|",
        *("| " + " | ".join(row) + " |" for row in table[1:]),
        "",
        f"Tokens de «{summary['tokenizers']['sentence']}» (· = espacio):",
        "",
    ]
    for t in summary["tokenizers"]["rows"]:
        lines.append(f"- {t['label']}: `{' | '.join(t['sentence_tokens'])}`")
    return lines


def tokenizer_html(summary: dict[str, Any]) -> list[str]:
    e = html.escape
    figs = summary["figures"]
    table = tokenizer_table(summary)
    return [
        "<h2>Caracteres frente a BPE</h2>",
        "<p>El GPT de la semilla con otro tokenizador: mismos pasos y lotes (los mismos tokens "
        "vistos). Se comparan los bits por carácter, nunca la pérdida por token.</p>",
        f'<img src="{e(figs["bits_vs_time"])}" alt="Bits por carácter frente al tiempo">',
        "<table><thead><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in table[0])
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table[1:])
        + "</tbody></table>",
        f"<p>Tokens de «{e(summary['tokenizers']['sentence'])}» (· = espacio):</p><ul>",
        *(
            f"<li>{e(t['label'])}: <code>{e(' | '.join(t['sentence_tokens']))}</code></li>"
            for t in summary["tokenizers"]["rows"]
        ),
        "</ul>",
    ]


def intro_text(summary: dict[str, Any]) -> str:
    counts = summary["counts"]
    state = "completa" if summary["complete"] else "INCOMPLETA (interrumpida)"
    chars = fmt_int(summary["data"]["chars"])
    return (
        f"Texto: `{summary['data']['path']}` ({chars} caracteres). "
        f"Versión {summary['profile']}: {summary['max_steps']} pasos por ejecución, lotes de "
        f"{summary['batch_size']} secuencias, GPT con n_embd {summary['n_embd']} y tasa de "
        f"aprendizaje {fmt_short(summary['gpt_lr'])}, semilla {summary['seed']}. "
        f"Comparación {state}: "
        f"{counts['trained']} ejecuciones entrenadas ahora, {counts['reused']} reutilizadas, "
        f"{counts['missing']} pendientes."
    )


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 75rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.5; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: .5rem; white-space: pre-wrap; margin: .2rem 0 .8rem; }
td.muestra { text-align: left; vertical-align: top; width: 45%; }
.incompleta { background: #fff3cd; padding: .5rem; }
"""


def page(summary: dict[str, Any]) -> str:
    e = html.escape
    figs = summary["figures"]
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{e(cell(row, key))}</td>" for key, _ in COLUMNS) + "</tr>"
        for row in summary["runs"]
    )
    head = "".join(f"<th>{e(title)}</th>" for _, title in COLUMNS)
    warning = ""
    if not summary["complete"]:
        warning = (
            '<p class="incompleta">Comparación interrumpida: vuelve a lanzar la misma orden '
            "para terminarla (lo ya entrenado se reutiliza).</p>"
        )
    parts = [
        "<!doctype html>",
        '<html lang="es"><head><meta charset="utf-8">',
        "<title>Comparación: bigrama frente a mini GPT</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Comparación: bigrama frente a mini GPT</h1>",
        warning,
        f"<p>{e(intro_text(summary).replace('`', ''))}</p>",
        "<h2>El bigrama frente al GPT</h2>",
        "<p>Líneas continuas: validación; discontinuas: entrenamiento. El bigrama se estanca "
        "pronto: solo ve el último carácter. El GPT sigue bajando mientras la atención aprende "
        "a mirar hacia atrás.</p>",
        f'<img src="{e(figs["bigram_vs_gpt"])}" alt="Curvas del bigrama y del GPT">',
        "<h2>Curvas de pérdida de todas las ejecuciones</h2>",
        f'<img src="{e(figs["curves"])}" alt="Curvas de pérdida de todas las ejecuciones">',
        "<h2>Barrido: contexto, capas y cabezas</h2>",
        "<p>Cada panel cambia una sola cosa del GPT de la semilla. La línea gris es el "
        "bigrama.</p>",
        f'<img src="{e(figs["sweeps"])}" alt="Pérdida de validación en el barrido">',
        "<h2>Tabla</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>",
        "<p>Tiempo y tokens/s dependen de la máquina y de su carga en ese momento. "
        'Datos completos: <a href="resultados.json">resultados.json</a>; la misma tabla en '
        '<a href="informe.md">informe.md</a>.</p>',
        *tokenizer_html(summary),
        "<h2>Cada ejecución por separado</h2>",
        "<ul>",
    ]
    for row in summary["runs"]:
        curve = f'<a href="{e(row["curve"])}">curva</a>' if row.get("curve") else "sin curva"
        parts.append(
            f"<li>{e(row['label'])}: {curve}, "
            f'<a href="{e(row["log"])}">registro</a>, checkpoint <code>{e(row["checkpoint"])}'
            "</code></li>"
        )
    parts += [
        "</ul>",
        "<h2>Muestras</h2>",
        "<p>Misma semilla y mismo comienzo en todos los modelos. Filas: temperatura (baja = "
        "conservadora, alta = creativa); columnas: top-k (solo compiten los k caracteres más "
        "probables).</p>",
    ]
    for row in summary["runs"]:
        parts += [f"<h3>{e(row['label'])}</h3>", sample_grid(row["samples"])]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def sample_grid(samples: list[dict[str, Any]]) -> str:
    """Una tabla por modelo: una fila por temperatura, una columna por top-k."""
    e = html.escape
    temps = list(dict.fromkeys(s["temperature"] for s in samples))
    top_ks = list(dict.fromkeys(s["top_k"] for s in samples))
    by_cell = {(s["temperature"], s["top_k"]): s for s in samples}
    head = "".join(f"<th>top-k {e(str(k or 'sin límite'))}</th>" for k in top_ks)
    rows = []
    for t in temps:
        cells = []
        for k in top_ks:
            s = by_cell.get((t, k))
            text = f"<pre><b>{e(s['prompt'])}</b>{e(s['text'])}</pre>" if s else ""
            cells.append(f'<td class="muestra">{text}</td>')
        rows.append(f"<tr><th>T = {e(fmt_short(t))}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def write_pages(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    md, page_path = out_dir / "informe.md", out_dir / "informe.html"
    md.write_text(markdown(summary), encoding="utf-8")
    page_path.write_text(page(summary), encoding="utf-8")
    return md, page_path

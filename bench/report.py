"""La tabla que se imprime y el JSON que se guarda."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Columnas alineadas: la primera a la izquierda y las demás (números) a la derecha."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    lines = [line(row) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "?"


def training_summary(results: dict[str, Any]) -> list[str]:
    rows = results.get("training", [])
    out = []
    by_key = {(r["size"], r["dtype"], r["compile"]): r for r in rows}
    for size in dict.fromkeys(r["size"] for r in rows):
        fp32, bf16 = by_key.get((size, "float32", False)), by_key.get((size, "bfloat16", False))
        if fp32 and bf16:
            out.append(
                f"{size}: el paso bf16 es {_ratio(fp32['step_ms'], bf16['step_ms'])} más rápido "
                f"que el fp32; pérdida de validación bf16 − fp32 = "
                f"{bf16['val_loss'] - fp32['val_loss']:+.4f} a {bf16['steps']} pasos."
            )
        for dtype in ("float32", "bfloat16"):
            plain, compiled = by_key.get((size, dtype, False)), by_key.get((size, dtype, True))
            if plain and compiled:
                out.append(
                    f"{size} {dtype}: --compile da {_ratio(plain['step_ms'], compiled['step_ms'])}"
                    f" (primer paso: {compiled['first_step_s']:.0f} s compilando)."
                )
    ref = results.get("reference")
    if ref:
        for dtype in ("float32", "bfloat16"):
            ours = by_key.get((ref["size"], dtype, False))
            if ours:
                out.append(
                    f"{ref['size']} {dtype}: el paso del entrenador ({ours['step_ms']:.1f} ms) es "
                    f"{_ratio(ref['step_ms'], ours['step_ms'])} más rápido que la implementación "
                    f"directa en float32 ({ref['step_ms']:.1f} ms)."
                )
    return out


def _training_rows(results: dict[str, Any]) -> list[list[Any]]:
    peaks = results.get("peaks", {})
    rows = []
    reference = [results["reference"]] if results.get("reference") else []
    for r in results["training"] + reference:
        peak = peaks.get(r["dtype"], {}).get("flops")
        flops = r.get("flops_per_s")
        rows.append(
            [
                r["size"] + ("" if "val_loss" in r else " (directa)"),
                r["dtype"],
                "sí" if r["compile"] else "no",
                f"{r['step_ms']:.1f}",
                f"{r['tokens_per_s']:,.0f}",
                f"{flops / 1e9:,.1f}" if flops else "-",
                f"{100 * flops / peak:.0f} %" if flops and peak else "-",
                f"{r['val_loss']:.4f} ({r['steps']})" if "val_loss" in r else "-",
                f"{100 * r['batch_ms'] / r['step_ms']:.2f} %" if "batch_ms" in r else "-",
            ]
        )
    return rows


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    gpu = f" · {m['gpu']}" if "gpu" in m else ""
    parts = [
        f"Máquina: {m['cpu']} · {m['cores']} núcleos · {m['torch_threads']} hilos de torch · "
        f"torch {m['torch']} · {m['device']}{gpu} · {m['date']}",
        f"Carga media (1 min) al empezar/terminar: {m.get('load_start')} / {m.get('load_end')}",
    ]
    peaks = results.get("peaks", {})
    if peaks:
        shown = [f"{k} {v['flops'] / 1e9:,.0f} GFLOP/s (n={v['size']})" for k, v in peaks.items()]
        parts.append("Pico de matmul: " + " · ".join(shown))
    if results.get("training"):
        headers = ["tamaño", "precisión", "compile", "ms/paso", "tokens/s", "GFLOP/s", "% pico"]
        headers += ["val (pasos)", "lotes"]
        parts += ["", "Entrenamiento", table(headers, _training_rows(results))]
        parts += training_summary(results)
    if results.get("generation"):
        rows = [
            [
                g["size"],
                g["new_tokens"],
                f"{g['cached_tokens_per_s']:,.1f}",
                f"{g['uncached_tokens_per_s']:,.1f}",
                f"{g['speedup']:.1f}×",
                f"{g['speedup_median']:.1f}×",
                "sí" if g["identical"] else "NO",
            ]
            for g in results["generation"]
        ]
        headers = [
            "tamaño",
            "tokens",
            "con caché tok/s",
            "sin caché tok/s",
            "× (mejores)",
            "× (mediana)",
            "mismo texto",
        ]
        parts += ["", "Generación (lote 1)", table(headers, rows)]
    if results.get("checkpoints"):
        rows = [
            [c["size"], f"{c['megabytes']:.1f}", f"{c['load_ms']:.1f}"]
            for c in results["checkpoints"]
        ]
        parts += ["", "Carga de checkpoints", table(["tamaño", "MB", "ms"], rows)]
    serving = results.get("serving")
    if serving:
        base = serving["rows"][0]["tokens_per_s"]
        rows = [
            [
                r["clients"],
                r["requests"],
                r["errors"],
                f"{r['tokens_per_s']:,.1f}",
                _ratio(r["tokens_per_s"], base),
                f"{r['p50_ms']:,.0f}",
                f"{r['p99_ms']:,.0f}",
            ]
            for r in serving["rows"]
        ]
        s = serving["settings"]
        title = (
            f"Servidor ({s['WEB_CONCURRENCY']} workers × {s['TORCH_THREADS']} hilo de torch, "
            f"{serving['new_tokens']} caracteres por petición)"
        )
        headers = [
            "clientes",
            "peticiones",
            "errores",
            "tokens/s",
            "× 1 cliente",
            "p50 ms",
            "p99 ms",
        ]
        parts += ["", title, table(headers, rows)]
    if results.get("busy"):
        parts += busy_section(results["busy"])
    return "\n".join(parts)


def busy_section(busy: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["policy"],
            r["condition"],
            f"{r['step_ms']:.1f}",
            f"{r['tokens_per_s']:,.0f}",
            " · ".join(str(t) for t in r["threads_at_end"]),
        ]
        for r in busy["rows"]
    ]
    title = (
        f"CPU ocupada (orden de la semilla, {busy['dtype']}, {busy['steps']} pasos, "
        f"{busy['rounds']} vuelta(s), {busy['cores']} núcleos; «ocupada» = un proceso más "
        "ocupando un núcleo)"
    )
    ratios = busy["busy_over_quiet"]
    lines = [
        f"ocupada / tranquila: ajustada {ratios['ajustada']:.2f}× (objetivo ≤ 2,3×), "
        f"fija {ratios['fija']:.2f}×.",
        f"tranquila, fija / ajustada: {busy['quiet_fixed_over_tuned']:.2f} (≥ 1: la ajustada "
        "no es más lenta).",
    ]
    cost = busy.get("quiet_tuned")
    if cost:  # no depende de la carga: lo que costó ajustar con la máquina tranquila
        lines.append(
            f"ajustada, tranquila: {cost['steps_below_max']} de {cost['steps']} pasos con menos "
            f"hilos que todos ({cost['pct_below_max']:.2f} %), {cost['probes']} prueba(s) de hilos."
        )
    headers = ["hilos", "máquina", "ms/paso", "tokens/s", "hilos al final"]
    return ["", title, table(headers, rows), *lines]


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

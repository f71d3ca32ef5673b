"""``python -m bench`` de principio a fin, en pequeño: la CLI real y el servidor real.

No comprueba velocidades (eso es lo que mide el benchmark, no una prueba): comprueba que cada
sección produce sus filas, que la generación con y sin caché da el mismo texto y que el
servidor responde sin errores con 16 clientes a la vez.
"""

from __future__ import annotations

import json

from tests.conftest import run_module


def test_bench_quick_run_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_module(
        "bench", "--quick", "--only", "training,generation,checkpoint,server",
        "--seed-steps", "4", "--large-steps", "1", "--dtypes", "float32",
        "--new-tokens", "6", "--peak-seconds", "0.05", "--out", str(out),
        timeout=600, check=True,
    )  # fmt: skip
    results = json.loads(out.read_text(encoding="utf-8"))

    assert results["machine"]["cores"] >= 1 and results["peaks"]["float32"]["flops"] > 0
    sizes = [r["size"] for r in results["training"]]
    assert sizes == ["semilla", "6x384"]
    for row in results["training"]:
        assert row["tokens_per_s"] > 0 and row["val_loss"] > 0 and row["flops_per_s"] > 0
    assert results["reference"]["size"] == "semilla" and results["reference"]["step_ms"] > 0

    assert [g["size"] for g in results["generation"]] == ["semilla", "6x384"]
    assert all(g["identical"] and g["new_tokens"] == 6 for g in results["generation"])
    assert all(c["load_ms"] > 0 for c in results["checkpoints"])

    rows = results["serving"]["rows"]
    assert [r["clients"] for r in rows] == [1, 4, 16]
    assert all(r["errors"] == 0 and r["tokens_per_s"] > 0 for r in rows)
    assert rows[-1]["requests"] == 16

    # La tabla impresa lleva las mismas secciones.
    for title in ("Entrenamiento", "Generación", "Carga de checkpoints", "Servidor"):
        assert title in proc.stdout

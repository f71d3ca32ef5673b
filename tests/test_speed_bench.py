"""``python -m bench`` de principio a fin, en pequeño: la CLI real y el servidor real.

No comprueba velocidades (eso es lo que mide el benchmark, no una prueba): comprueba que cada
sección produce sus filas, que la generación con y sin caché da el mismo texto, que el
servidor responde sin errores con 16 clientes a la vez y que la fila «CPU ocupada» mide las dos
políticas de hilos tranquila y ocupada.
"""

from __future__ import annotations

import json

import pytest

from bench.training import flops_per_token
from shared.config import GPTConfig
from tests.helpers.cli import run_module


@pytest.mark.parametrize(
    ("config", "flops"),
    [  # lo que daba GPT.flops_per_token() antes de mudarse al bench: las cifras no cambian
        (GPTConfig(vocab_size=89), 2_842_368),  # la semilla
        (GPTConfig(vocab_size=89, n_embd=384, n_head=6, n_layer=6, block_size=256), 71_168_256),
        (GPTConfig(vocab_size=89, n_layer=3, bias=False), 4_202_496),
    ],
)
def test_flops_per_token_from_the_config(config, flops):
    assert flops_per_token(config) == flops


def test_bench_quick_run_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_module(
        "bench", "--quick", "--only", "training,generation,checkpoint,server,busy",
        "--busy-steps", "5", "--busy-rounds", "1",
        "--seed-steps", "4", "--large-steps", "1", "--dtypes", "float32",
        "--new-tokens", "6", "--peak-seconds", "0.05", "--out", str(out),
        timeout=900, check=True,  # en una máquina cargada la fila «CPU ocupada» tarda
    )  # fmt: skip
    results = json.loads(out.read_text(encoding="utf-8"))

    assert results["machine"]["cores"] >= 1 and results["peaks"]["float32"]["flops"] > 0
    # Solo el pico de los tipos medidos: el de bf16 sin hardware bf16 tardaba más de 20 min.
    assert list(results["peaks"]) == ["float32"]
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

    busy = results["busy"]
    cells = {(r["policy"], r["condition"]) for r in busy["rows"]}
    assert cells == {(p, c) for p in ("fija", "ajustada") for c in ("tranquila", "ocupada")}
    fixed = [r for r in busy["rows"] if r["policy"] == "fija"]
    assert all(r["threads_at_end"] == [busy["cores"]] for r in fixed)  # OMP_NUM_THREADS manda
    assert busy["busy_over_quiet"]["ajustada"] > 0 and busy["quiet_fixed_over_tuned"] > 0
    # Lo que costó ajustar (del JSONL del entrenador): con más de un núcleo hay prueba de hilos.
    cost = busy["quiet_tuned"]
    assert cost["steps"] == 5 and 0 <= cost["steps_below_max"] <= 5
    assert cost["probes"] >= 1 if busy["cores"] > 1 else cost["probes"] == 0
    assert "pasos con menos hilos que todos" in proc.stdout

    # La tabla impresa lleva las mismas secciones.
    titles = ("Entrenamiento", "Generación", "Carga de checkpoints", "Servidor", "CPU ocupada")
    for title in titles:
        assert title in proc.stdout

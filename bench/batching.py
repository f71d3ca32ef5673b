"""``python -m bench.batching``: el servidor real con generación por lotes y sin ella.

Sirve el checkpoint indicado dos veces, con BATCHING=1 y con BATCHING=0 (los demás ajustes, los
de ``serving.server_settings``), y con cada uno mide 1, 4 y 16 clientes a la vez: caracteres
generados por segundo en total, latencia p50/p99 por petición y errores (cualquier respuesta
que no sea 200, también los 429). Es una medida, no una prueba: no falla si va lento.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.machine import load_average
from bench.report import table, write_json
from bench.server_process import ServerProcess
from bench.serving import run_load, server_settings
from shared.checkpoints.files import latest_checkpoint
from shared.common.argparse_es import SpanishArgumentParser
from trainer.errors import run_cli


def server_cpu_seconds(pid: int) -> float | None:
    """CPU (usuario + sistema) gastada por el proceso ``pid`` y todos sus descendientes vivos
    (el frente de ``python -m server``, el maestro de gunicorn y sus workers).

    Con la máquina compartida, los tokens/s dependen de cuánta CPU dejan los demás; los tokens
    por segundo de CPU del servidor miden solo lo que cuesta generar. None fuera de Linux.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, int] = {}
    try:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # el proceso terminó mientras se leía
                continue
            # Tras el nombre: estado(0) ppid(1) ... utime(11) stime(12).
            parent[int(entry.name)] = int(fields[1])
            cpu[int(entry.name)] = int(fields[11]) + int(fields[12])
    except OSError:
        return None

    def descends(p: int) -> bool:
        for _ in range(16):  # frente → maestro → worker: pocos niveles
            if p == pid:
                return True
            p = parent.get(p, 0)
            if p <= 1:
                return False
        return False

    return sum(ticks_used for p, ticks_used in cpu.items() if descends(p)) / ticks


def measure_batching(
    checkpoint: Path,
    levels: tuple[int, ...],
    per_client: int,
    new_tokens: int,
    workers: int | None = None,
) -> dict[str, Any]:
    settings = server_settings(max(levels))
    if workers:
        settings["WEB_CONCURRENCY"] = str(workers)
    workdir = Path(tempfile.mkdtemp(prefix="llm-bench-lotes-"))
    try:
        served = workdir / "servir"
        served.mkdir()
        shutil.copy(checkpoint, served / checkpoint.name)
        rows = []
        for batching in ("1", "0"):
            print(f"BATCHING={batching}…", flush=True)
            server = ServerProcess(
                workdir / f"servidor-{batching}",
                CHECKPOINT_DIR=str(served),
                **{**settings, "BATCHING": batching},
            )
            with server.start(timeout=120).wait_ready():
                # Calentar: cada worker carga el modelo y prepara sus núcleos.
                run_load(server.url(), 2 * int(settings["WEB_CONCURRENCY"]), 1, 20)
                for clients in levels:
                    assert server.proc is not None
                    cpu0 = server_cpu_seconds(server.proc.pid)
                    row = run_load(server.url(), clients, per_client, new_tokens)
                    cpu1 = server_cpu_seconds(server.proc.pid)
                    if cpu0 is not None and cpu1 is not None and cpu1 > cpu0:
                        chars = (row["requests"] - row["errors"]) * new_tokens  # 200 = todos
                        row["server_cpu_s"] = round(cpu1 - cpu0, 2)
                        row["tokens_per_cpu_s"] = round(chars / (cpu1 - cpu0), 1)
                    rows.append({"batching": batching == "1", **row})
                    print(
                        f"  {clients} cliente(s): {row['tokens_per_s']:,.1f} tokens/s", flush=True
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"settings": settings, "new_tokens": new_tokens, "rows": rows}


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    base = {r["batching"]: r["tokens_per_s"] for r in rows if r["clients"] == 1}
    lines = [
        [
            "sí" if r["batching"] else "no",
            r["clients"],
            r["requests"],
            r["errors"],
            f"{r['tokens_per_s']:,.1f}",
            f"{r['tokens_per_s'] / base[r['batching']]:.2f}×" if base.get(r["batching"]) else "?",
            f"{r['p50_ms']:,.0f}",
            f"{r['p99_ms']:,.0f}",
            f"{r['tokens_per_cpu_s']:,.0f}" if "tokens_per_cpu_s" in r else "?",
        ]
        for r in rows
    ]
    s = result["settings"]
    title = (
        f"Servidor con y sin lotes ({s['WEB_CONCURRENCY']} workers × {s['TORCH_THREADS']} hilo "
        f"de torch, {result['new_tokens']} caracteres por petición)"
    )
    headers = ["lotes", "clientes", "peticiones", "errores", "tokens/s", "× 1 cliente"]
    headers += ["p50 ms", "p99 ms", "tokens/s de CPU"]
    return title + "\n" + table(headers, lines)


def build_parser() -> argparse.ArgumentParser:
    p = SpanishArgumentParser(
        prog="python -m bench.batching",
        description="Mide el servidor con BATCHING=1 y BATCHING=0 con 1, 4 y 16 clientes.",
    )
    p.add_argument("--ckpt", required=True, help="checkpoint (.pt) o directorio (el último)")
    p.add_argument("--clients", default="1,4,16", help="niveles de clientes simultáneos")
    p.add_argument("--per-client", type=int, default=3, help="peticiones seguidas por cliente")
    p.add_argument("--new-tokens", type=int, default=500, help="caracteres por petición")
    p.add_argument("--workers", type=int, help="WEB_CONCURRENCY (por defecto, uno por núcleo)")
    p.add_argument("--out", default="bench-results/batching.json", help="dónde guardar el JSON")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    path = Path(args.ckpt)
    checkpoint = latest_checkpoint(path) if path.is_dir() else path
    if checkpoint is None or not checkpoint.is_file():
        from shared.common.errors import CheckpointError

        raise CheckpointError(f"no hay ningún checkpoint en '{args.ckpt}'.")
    levels = tuple(int(c) for c in args.clients.split(","))
    result = measure_batching(checkpoint, levels, args.per_client, args.new_tokens, args.workers)
    result["load_average"] = load_average()
    print()
    print(render(result))
    write_json(result, Path(args.out))
    print(f"\nJSON guardado en {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

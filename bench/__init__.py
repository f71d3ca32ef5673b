"""``python -m bench``: mide entrenamiento, generación, servidor y carga de checkpoints.

Imprime una tabla y guarda las cifras en JSON (por defecto ``bench-results/bench.json``).
Las cifras de referencia están en ``docs/BENCHMARKS.md``.
"""

"""``python -m bench``: mide entrenamiento, generación, servidor, carga de checkpoints y el
entrenamiento con la CPU ocupada.

Es una herramienta del repositorio, no parte del entrenador ni del servidor: puede importar
``trainer``, ``server`` y ``shared``, pero nada la importa a ella y ninguna imagen Docker la
lleva. Arranca el servidor con ``bench/server_process.py``, el mismo lanzador que las pruebas.
Imprime una tabla y guarda las cifras en JSON (por defecto ``bench-results/bench.json``).
Las cifras de referencia están en ``docs/BENCHMARKS.md``.
"""

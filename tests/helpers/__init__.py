"""Ayudantes de las pruebas, en un solo sitio: los ``conftest.py`` solo declaran fixtures y las
importan de aquí (nadie importa un conftest).

- ``cli``: la raíz del repositorio, el entorno de los subprocesos, ``run_module`` y los textos.
- ``checkpoints``: el único constructor de checkpoints diminutos (la CLI real del entrenador).
- ``models``: el GPT «afilado» con el que una caché o una atención mal hechas cambian el texto.
- ``server``: el lanzador del servidor real para las pruebas y la forma única de los errores.
- ``sse``: el único lector de respuestas ``text/event-stream``.
- ``bad_checkpoints``, ``slow_clients``, ``dockerlib``: tablas y clientes que comparten varias
  pruebas (CLI y servidor, nativo y Docker).
"""

"""``python -m trainer.compare``: el bigrama frente al mini GPT y un barrido de tamaños.

Los módulos, en el orden en que trabajan: ``plan`` (qué ejecuciones), ``runs`` (entrenar o
reutilizar cada una), ``samples`` (textos con la misma semilla), ``figures`` (las figuras) y
``report`` (tabla, JSON y la página HTML).
"""

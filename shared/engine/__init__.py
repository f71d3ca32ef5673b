"""El motor: la cuenta de la lección reordenada para ir rápido, y lo que se mira dentro del modelo.

``batch`` genera muchas filas en un solo paso (la CLI, el servidor y el playground lo usan; las
pruebas lo comparan con ``shared/generation.py``) con las cachés KV de todas en ``slots``;
``attention_map`` saca los pesos de la atención explícita de la lección para dibujarlos.
"""

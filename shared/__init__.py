"""Biblioteca común de llm-desde-cero: lo que comparten el entrenador y el servidor.

La lección, en este orden: ``tokenizer`` → ``bigram_model`` → ``transformer_model`` →
``kv_cache`` → ``sampling`` → ``generation`` (todo el modelo y todo el muestreador). Después,
``engine``: la misma cuenta reordenada para ir rápido, la que usan la CLI y el servidor. Y la
intendencia: ``config``, ``models``, ``checkpoint`` (con ``checkpoint_format``,
``model_shapes`` y ``memory_budget``), ``device``, ``errors`` y ``argparse_es`` (la ayuda y
los errores de las CLIs en español).
No importa nunca ``trainer`` ni ``server``.
"""

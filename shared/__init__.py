"""Biblioteca común de llm-desde-cero: lo que comparten el entrenador y el servidor.

Un estudiante puede leer esta carpeta de arriba abajo para ver cómo funciona un LLM:
``tokenizer`` → ``bigram_model`` / ``transformer_model`` → ``generation`` → ``checkpoint``
(con ``checkpoint_format``, ``model_shapes`` y ``memory_budget``).
No importa nunca ``trainer`` ni ``server``.
"""

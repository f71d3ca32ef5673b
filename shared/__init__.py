"""llm-desde-cero: la lección. Un modelo de lenguaje entero, en este orden de lectura:

1. ``tokenizer`` — de texto a números y de vuelta: un símbolo por carácter.
2. ``bpe_tokenizer`` — el paso siguiente: bytes y fusiones aprendidas (BPE), como los LLM reales.
3. ``config`` — los hiperparámetros de los modelos y qué significa cada uno.
4. ``bigram_model`` — el punto de partida: el siguiente carácter según el actual.
5. ``transformer_model`` — el mini GPT: atención causal multi-cabeza, MLP, residuales.
6. ``kv_cache`` — generar sin recalcular el pasado.
7. ``sampling`` — de logits a un carácter: temperatura, top-k, top-p.
8. ``generation`` — el bucle que genera texto (la referencia con la que se compara todo).

Lo demás es la maquinaria que comparten el entrenador y el servidor, en subpaquetes:
``engine`` (la misma cuenta reordenada para ir rápido, y el mapa de atención),
``checkpoints`` (formato, validación y escritura atómica) y ``common`` (errores, dispositivo,
memoria y argparse en español). Nada de ``shared`` importa ``trainer`` ni ``server``.
"""

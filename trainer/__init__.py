"""El lado por lotes de llm-desde-cero: entrenamiento, generación y evaluación por CLI."""

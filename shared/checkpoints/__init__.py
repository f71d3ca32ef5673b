"""Los checkpoints: formato, validación, construcción del modelo y escritura atómica en disco."""

"""Servidor HTTP: Flask bajo gunicorn sirviendo el último checkpoint (``python -m server``).

Orden de lectura, el camino de una petición: ``start.py`` arranca (``python -m server``:
gunicorn con ``gunicorn.conf.py``; en Docker, nginx delante), ``app.py`` monta la aplicación en
cada worker y ``routes/`` recibe la petición (``generate.py`` primero; ``completions``,
``attention``, ``models`` y ``meta`` siguen el mismo patrón). La ruta valida el cuerpo con
``validation.py`` contra ``schemas.py`` y usa ``requests.py`` (vocabulario, semilla, resumen del
modelo); saca el modelo de ``state.py`` (``model_store.py`` y ``model_catalog.py`` lo cargan y
recargan) y genera con ``generation_service.py``, que reparte el trabajo (``batching.py``) al
motor de ``shared/engine/``. Alrededor: ``settings.py``, ``errors.py``, ``auth.py``,
``metrics.py``, ``sse.py`` y ``openapi.py``.
"""

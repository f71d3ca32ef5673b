"""Servidor HTTP: Flask bajo gunicorn sirviendo el último checkpoint (``python -m server``)."""

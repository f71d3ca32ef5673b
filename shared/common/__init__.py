"""Intendencia común del entrenador y del servidor.

Errores, dispositivo, estimación de memoria y argparse en español.
"""

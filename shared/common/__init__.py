"""Intendencia común del entrenador y del servidor.

Errores, dispositivo, estimación de memoria, argparse en español y la dirección del playground.
"""

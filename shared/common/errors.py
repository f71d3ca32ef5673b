"""Tipos de error del proyecto.

Cada lado (CLI y HTTP) traduce estos tipos a códigos de salida o estados HTTP en un solo sitio.
Los mensajes van en español porque los leen estudiantes y profesores.
"""


class LLMError(Exception):
    """Error base de llm-desde-cero: su mensaje es apto para mostrarlo al usuario."""


class ConfigError(LLMError):
    """Configuración de modelo o de entrenamiento inválida."""


class TokenizerError(LLMError):
    """Texto con caracteres que el vocabulario no conoce, o vocabulario inválido."""

    def __init__(self, message: str, unknown_chars: list[str] | None = None) -> None:
        super().__init__(message)
        self.unknown_chars = unknown_chars or []


class CheckpointError(LLMError):
    """Checkpoint ilegible, corrupto, ajeno o incompatible."""


class DeviceError(LLMError):
    """Dispositivo desconocido o no disponible."""


class DataError(LLMError):
    """Fichero de datos inexistente, vacío, no UTF-8 o demasiado corto."""

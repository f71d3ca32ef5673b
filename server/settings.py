"""Ajustes del servidor, leídos de variables de entorno (y de un fichero ``.env`` si existe).

Una variable ya definida en el entorno gana siempre a la del ``.env``. Una variable vacía
(``WEB_CONCURRENCY=``, como las pasa compose cuando ``.env`` no las define) vale lo mismo que
no definirla: rige el valor por defecto.

=========================== ============== =====================================================
Variable                    Por defecto    Qué hace
=========================== ============== =====================================================
HOST                        127.0.0.1      Dirección en la que escucha (0.0.0.0 en la imagen
                                           Docker, para aceptar conexiones de fuera).
PORT                        8000           Puerto TCP (0 = cualquier puerto libre).
CHECKPOINT_DIR              checkpoints/   Directorio del que se sirve el último checkpoint
                            MODEL          (``*.pt``). Solo se lee: puede montarse de solo
                                           lectura. Un modelo por carpeta, como ``make train``.
MODEL                       gpt            gpt o bigram: con CHECKPOINT_DIR vacío, sirve
                                           checkpoints/gpt o checkpoints/bigram.
WEB_CONCURRENCY             núcleos /      Procesos worker de gunicorn; cada uno carga su copia
                            TORCH_THREADS  de PyTorch y del modelo (unos 350 MB), así que por
                            (máx. 4)       defecto no pasa de 4. Núcleos: los que el proceso
                                           puede usar (afinidad y cuota de CPU del contenedor),
                                           no los de la máquina.
GUNICORN_THREADS            4              Hilos por worker (peticiones atendidas a la vez). Debe
                                           superar a MAX_CONCURRENT_GENERATIONS para que /health
                                           y los 429 respondan aunque se esté generando.
GUNICORN_TIMEOUT            120            Segundos que un worker puede estar sin dar señales de
                                           vida antes de que gunicorn lo reinicie.
CLIENT_TIMEOUT              10             Segundos que tiene un cliente para enviar su petición
                                           entera (cabeceras y cuerpo) desde que abre la
                                           conexión; si no, 408 y se cierra. Entre peticiones de
                                           una misma conexión se esperan 5 s como mucho.
TORCH_THREADS               1              Hilos de cálculo de PyTorch por worker. Regla:
                                           WEB_CONCURRENCY × TORCH_THREADS ≈ núcleos.
API_KEY                     (vacía)        Si tiene valor, /generate y /v1/completions exigen la
                                           cabecera ``Authorization: Bearer <clave>``.
MAX_NEW_TOKENS              500            Máximo de caracteres generados por petición.
MAX_PROMPT_CHARS            2000           Longitud máxima del prompt, en caracteres.
MAX_BODY_BYTES              65536          Tamaño máximo del cuerpo de una petición (413 si no).
MAX_CONCURRENT_GENERATIONS  2              Generaciones simultáneas por worker; la siguiente
                                           recibe 429 al momento (no se encola).
RELOAD_INTERVAL             2              Segundos entre comprobaciones de si hay un checkpoint
                                           más nuevo (0 = no volver a comprobar).
LOG_LEVEL                   info           debug, info, warning o error.
DEVICE                      cpu            Dispositivo de PyTorch: cpu, cuda, cuda:N, mps o auto.
BATCHING                    1              1 = las generaciones simultáneas de un worker avanzan
                                           juntas (una pasada del modelo por paso para todas;
                                           cada una da el mismo texto que sola). 0 = cada una
                                           por su cuenta.
MEMORY_LIMIT                (la memoria    Tope de memoria para cargar un checkpoint (64G, 512M;
                            disponible)    0 = sin comprobar): uno que pediría más se descarta
                                           con un aviso y se sigue sirviendo el anterior.
=========================== ============== =====================================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

from server.cpus import usable_cores
from shared.config import MODEL_TYPES
from shared.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Tope de workers por defecto: cada uno lleva su PyTorch y su modelo en memoria.
MAX_DEFAULT_WORKERS = 4


def default_workers(cores: int, torch_threads: int) -> int:
    """WEB_CONCURRENCY por defecto: los workers que caben en los núcleos, entre 1 y 4."""
    return max(1, min(MAX_DEFAULT_WORKERS, cores // torch_threads))


def load_env_file() -> None:
    """Carga ``.env`` del directorio actual (o de uno superior) sin pisar el entorno."""
    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} debe ser un número entero (recibido: {raw!r}).") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} debe estar entre {minimum} y {maximum} (recibido: {value}).")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} debe ser un número (recibido: {raw!r}).") from None
    if not value >= minimum or value == float("inf"):
        raise ConfigError(f"{name} debe ser un número finito >= {minimum} (recibido: {raw}).")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise ConfigError(f"{name} debe ser 0 o 1 (recibido: {raw!r}).")
    return raw == "1"


def _checkpoint_dir(env: Mapping[str, str]) -> Path:
    """CHECKPOINT_DIR, o la carpeta del modelo (MODEL) donde escriben make train y compose."""
    raw = env.get("CHECKPOINT_DIR", "").strip()
    if raw:
        return Path(raw)
    model = env.get("MODEL", "").strip() or "gpt"
    if model not in MODEL_TYPES:
        raise ConfigError(f"MODEL debe ser uno de: {', '.join(MODEL_TYPES)} (recibido: {model!r}).")
    return Path("checkpoints") / model


def _host(env: Mapping[str, str]) -> str:
    raw = env.get("HOST", "").strip() or "127.0.0.1"
    if raw == "localhost":
        return raw
    try:
        ipaddress.ip_address(raw.strip("[]"))
    except ValueError:
        raise ConfigError(
            f"HOST debe ser una dirección IP como 127.0.0.1 o 0.0.0.0 (recibido: {raw!r})."
        ) from None
    return raw


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    checkpoint_dir: Path = Path("checkpoints/gpt")
    web_concurrency: int = 2
    threads: int = 4
    timeout: int = 120
    client_timeout: float = 10.0
    torch_threads: int = 1
    api_key: str = ""
    max_new_tokens: int = 500
    max_prompt_chars: int = 2000
    max_body_bytes: int = 65536
    max_concurrent_generations: int = 2
    reload_interval: float = 2.0
    log_level: str = "info"
    device: str = "cpu"
    batching: bool = True

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Lee y valida los ajustes; un valor inválido da un ``ConfigError`` en español."""
        env = os.environ if env is None else env
        torch_threads = _int(env, "TORCH_THREADS", 1, 1, 256)
        log_level = env.get("LOG_LEVEL", "").strip().lower() or "info"
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL debe ser uno de: {', '.join(LOG_LEVELS)}.")
        return cls(
            host=_host(env),
            port=_int(env, "PORT", 8000, 0, 65535),
            checkpoint_dir=_checkpoint_dir(env),
            web_concurrency=_int(
                env, "WEB_CONCURRENCY", default_workers(usable_cores(), torch_threads), 1, 64
            ),
            threads=_int(env, "GUNICORN_THREADS", 4, 1, 256),
            timeout=_int(env, "GUNICORN_TIMEOUT", 120, 1, 86400),
            client_timeout=_float(env, "CLIENT_TIMEOUT", 10.0, 0.1),
            torch_threads=torch_threads,
            api_key=env.get("API_KEY", "").strip(),
            max_new_tokens=_int(env, "MAX_NEW_TOKENS", 500, 1, 1_000_000),
            max_prompt_chars=_int(env, "MAX_PROMPT_CHARS", 2000, 1, 10_000_000),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 65536, 256, 1_000_000_000),
            max_concurrent_generations=_int(env, "MAX_CONCURRENT_GENERATIONS", 2, 1, 1024),
            reload_interval=_float(env, "RELOAD_INTERVAL", 2.0, 0.0),
            log_level=log_level,
            device=env.get("DEVICE", "").strip() or "cpu",
            batching=_flag(env, "BATCHING", True),
        )

    def warnings(self) -> list[str]:
        """Combinaciones válidas pero que probablemente no son lo que se quiere."""
        out = []
        if self.threads <= self.max_concurrent_generations:
            out.append(
                f"GUNICORN_THREADS ({self.threads}) no supera a MAX_CONCURRENT_GENERATIONS "
                f"({self.max_concurrent_generations}): con todos los hilos generando, las demás "
                "peticiones esperarán en cola en vez de recibir 429 o respuesta de /health."
            )
        cores = usable_cores()
        if self.web_concurrency * self.torch_threads > 2 * cores:
            out.append(
                f"WEB_CONCURRENCY × TORCH_THREADS = {self.web_concurrency * self.torch_threads} "
                f"supera de largo los {cores} núcleos: los procesos se pisarán la CPU."
            )
        return out

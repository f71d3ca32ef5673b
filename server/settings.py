"""Ajustes del servidor, leídos de variables de entorno (y de un fichero ``.env`` si existe).

Cada variable está declarada UNA vez, en ``VARIABLES``: nombre, campo de ``Settings``, valor por
defecto, cómo se lee y se valida, y su ayuda en español. De esa lista salen ``Settings.from_env``,
``python -m server --help``, la tabla de docs/servidor.md y la sección del servidor de
``.env.example`` (``make docs-tables``; server/settings_doc.py), y las pruebas comprueban
contra ella la lista ``environment:`` del servidor en compose.yaml.

Una variable ya definida en el entorno gana siempre a la del ``.env``. Una variable vacía
(``WEB_CONCURRENCY=``, como las pasa compose cuando ``.env`` no las define) vale lo mismo que
no definirla: rige el valor por defecto.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import find_dotenv, load_dotenv

from server.cpus import usable_cores
from shared.common.errors import ConfigError
from shared.config import MODEL_TYPES

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Tope de workers por defecto: cada uno lleva su PyTorch y su modelo en memoria.
MAX_DEFAULT_WORKERS = 4
# Plazas de generación por worker. Con lotes, todas avanzan en una pasada del modelo por paso:
# con el GPT de `make train` en 2 núcleos, 128 clientes a la vez reciben su primer carácter en
# medio segundo y 35 caracteres/s cada uno, más de lo que se lee (docs/BENCHMARKS.md, «Una clase
# a la vez»). 64 por worker: un worker solo acoge una clase de 30 aunque el reparto entre workers
# salga desigual, y el 429 queda para una sobrecarga de verdad. Sin lotes, cada generación es un
# hilo aparte que compite por la CPU: 2.
SLOTS_BATCHING = 64
SLOTS_ALONE = 2
# Hilos de gunicorn por encima de las plazas: /health, /ready, /info y los 429 responden aunque
# todas las plazas estén generando.
SPARE_THREADS = 8


def default_workers(cores: int, torch_threads: int) -> int:
    """WEB_CONCURRENCY por defecto: los workers que caben en los núcleos, entre 1 y 4."""
    return max(1, min(MAX_DEFAULT_WORKERS, cores // torch_threads))


def configure_logging(logger: logging.Logger, level: str) -> None:
    """Un solo formato y un solo destino para el registro: el de gunicorn.

    En un worker se reutilizan los manejadores de gunicorn; fuera de él (el arranque, una prueba
    con ``create_app``) se escribe en stdout con su mismo formato, y se lee como un solo registro.
    """
    gunicorn_log = logging.getLogger("gunicorn.error")
    if not logger.handlers:
        if gunicorn_log.handlers:
            logger.handlers = gunicorn_log.handlers
        else:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(
                logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
                                  "%Y-%m-%d %H:%M:%S %z")
            )  # fmt: skip
            logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())


def load_env_file() -> None:
    """Carga ``.env`` del directorio actual (o de uno superior) sin pisar el entorno."""
    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)


# --- cómo se lee cada tipo de valor (el texto ya viene sin espacios y no vacío) -------------

Parser = Callable[[str, str], Any]  # (nombre de la variable, texto) -> valor


def integer(minimum: int, maximum: int) -> Parser:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} debe ser un número entero (recibido: {raw!r}).") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} debe estar entre {minimum} y {maximum} (recibido: {value}).")
        return value

    return parse


def number(minimum: float) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} debe ser un número (recibido: {raw!r}).") from None
        if not value >= minimum or value == float("inf"):
            raise ConfigError(f"{name} debe ser un número finito >= {minimum} (recibido: {raw}).")
        return value

    return parse


def flag(name: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ConfigError(f"{name} debe ser 0 o 1 (recibido: {raw!r}).")
    return raw == "1"


def choice(options: tuple[str, ...], lower: bool = False) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.lower() if lower else raw
        if value not in options:
            raise ConfigError(f"{name} debe ser uno de: {', '.join(options)} (recibido: {raw!r}).")
        return value

    return parse


def text(_name: str, raw: str) -> str:
    return raw


def host(name: str, raw: str) -> str:
    if raw == "localhost":
        return raw
    try:
        ipaddress.ip_address(raw.strip("[]"))
    except ValueError:
        raise ConfigError(
            f"{name} debe ser una dirección IP como 127.0.0.1 o 0.0.0.0 (recibido: {raw!r})."
        ) from None
    return raw


def path(_name: str, raw: str) -> Path:
    return Path(raw)


@dataclass(frozen=True)
class Var:
    """Una variable de entorno del servidor.

    ``field``: el campo de ``Settings`` que rellena (None: la lee otra parte del código).
    ``default``: el valor si falta o está vacía; una función recibe los valores ya leídos (las
    variables de las que depende van antes en la lista). ``shown``: cómo se describe un valor
    por defecto calculado en la ayuda, la tabla y .env.example.
    ``trainer``: el entrenador también la lee, y .env.example la explica en su sección.
    """

    name: str
    field: str | None
    default: Any
    parse: Parser
    help: str
    shown: str | None = None
    trainer: bool = False

    @property
    def literal(self) -> bool:
        """Si el valor por defecto es un valor que se puede escribir tal cual en ``.env``."""
        return self.shown is None and not callable(self.default)

    @property
    def default_text(self) -> str:
        if self.shown is not None:
            return self.shown
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


VARIABLES: tuple[Var, ...] = (
    Var("HOST", "host", "127.0.0.1", host,
        "Dirección de escucha. En Docker, dónde se publica el puerto (dentro, el contenedor "
        "escucha en `0.0.0.0`): `127.0.0.1`, solo desde esta máquina; `0.0.0.0` lo abre a tu red "
        "(pon entonces `API_KEY`)."),
    Var("PORT", "port", 8000, integer(0, 65535),
        "Puerto TCP (`0` = uno libre cualquiera; el registro dice cuál en «escuchando en»)."),
    Var("MODEL", "model", "gpt", choice(MODEL_TYPES),
        "`gpt` o `bigram`: con `CHECKPOINT_DIR` vacío, sirve `checkpoints/gpt` o "
        "`checkpoints/bigram` (donde escriben `make train` y `make train-bigram`).",
        trainer=True),
    Var("CHECKPOINT_DIR", "checkpoint_dir", lambda v: Path("checkpoints") / v["model"], path,
        "De dónde se sirve el último checkpoint (`*.pt`). Solo se lee: puede montarse de solo "
        "lectura. Si se llama como un modelo, la carpeta del otro a su lado también se lista "
        "para elegir (ver `GET /v1/models`).", shown="checkpoints/$MODEL", trainer=True),
    Var("TORCH_THREADS", "torch_threads", 1, integer(1, 256),
        "Hilos de PyTorch por worker: `WEB_CONCURRENCY × TORCH_THREADS ≈ núcleos`."),
    Var("WEB_CONCURRENCY", "web_concurrency",
        lambda v: default_workers(usable_cores(), v["torch_threads"]), integer(1, 64),
        "Procesos worker de gunicorn; cada uno con su copia de PyTorch y del modelo (~350 MB). "
        "Cuenta los núcleos que el proceso puede usar (`taskset`, cuota de CPU del contenedor), "
        "no los de la máquina.",
        shown=f"núcleos ÷ TORCH_THREADS, entre 1 y {MAX_DEFAULT_WORKERS}"),
    Var("BATCHING", "batching", True, flag,
        "`1`: las generaciones simultáneas de un worker avanzan juntas, una pasada del modelo por "
        "paso para todas (cada una da el mismo texto que sola); `0`: cada una por su cuenta."),
    Var("MAX_CONCURRENT_GENERATIONS", "max_concurrent_generations",
        lambda v: SLOTS_BATCHING if v["batching"] else SLOTS_ALONE, integer(1, 1024),
        "Generaciones a la vez por worker; la siguiente recibe 429 al momento (sin cola). Con "
        f"lotes, {SLOTS_BATCHING}: un solo worker acoge una clase entera (ver «Una clase a la "
        "vez» en docs/servidor.md); sin lotes, cada una es una pasada aparte por carácter.",
        shown=f"{SLOTS_BATCHING} con `BATCHING=1`, {SLOTS_ALONE} con `0`"),
    Var("GUNICORN_THREADS", "threads",
        lambda v: v["max_concurrent_generations"] + SPARE_THREADS, integer(1, 1024),
        "Hilos por worker (peticiones atendidas a la vez). Debe superar a "
        "`MAX_CONCURRENT_GENERATIONS` para que `/health` y los 429 respondan mientras se genera.",
        shown=f"`MAX_CONCURRENT_GENERATIONS` + {SPARE_THREADS}"),
    Var("GUNICORN_TIMEOUT", "timeout", 120, integer(1, 86400),
        "Segundos sin señales de vida antes de que gunicorn reinicie un worker."),
    Var("CLIENT_TIMEOUT", "client_timeout", 10.0, number(0.1),
        "Con `docker compose up` (nginx delante): segundos para recibir las cabeceras de una "
        "petición, pausa máxima al recibir el cuerpo y al enviar la respuesta; si no, nginx "
        "cierra la conexión (así los clientes lentos no ocupan el servidor)."),
    Var("API_KEY", "api_key", "", text,
        "Con valor, `/generate`, `/v1/completions`, `/attention` y `/v1/models` exigen la "
        "cabecera `Authorization: Bearer <clave>`. Pónsela si el servidor se abre a la red."),
    Var("MAX_NEW_TOKENS", "max_new_tokens", 500, integer(1, 1_000_000),
        "Tope de caracteres generados por petición."),
    Var("MAX_PROMPT_CHARS", "max_prompt_chars", 2000, integer(1, 10_000_000),
        "Longitud máxima del prompt, en caracteres."),
    Var("MAX_BODY_BYTES", "max_body_bytes", 65536, integer(256, 1_000_000_000),
        "Tamaño máximo del cuerpo de una petición, en bytes (413 si se pasa)."),
    Var("MAX_EXTRA_MODELS", "max_extra_models", 2, integer(0, 64),
        "Modelos pedidos por nombre (`model`) que cada worker guarda en memoria además del de "
        "por defecto; con más, sale el usado hace más tiempo."),
    Var("MAX_ATTENTION_CHARS", "max_attention_chars", 64, integer(1, 4096),
        "Caracteres máximos del prompt de `/attention` (y nunca más que el `block_size`): el mapa "
        "crece con capas × cabezas × caracteres²."),
    Var("RELOAD_INTERVAL", "reload_interval", 2.0, number(0.0),
        "Segundos entre búsquedas de un checkpoint más nuevo (`0` = nunca)."),
    Var("LOG_LEVEL", "log_level", "info", choice(LOG_LEVELS, lower=True),
        "`debug`, `info`, `warning`, `error` o `critical`."),
    Var("DEVICE", "device", "cpu", text,
        "Dispositivo de PyTorch: `cpu`, `cuda`, `cuda:N`, `mps` o `auto`.", trainer=True),
    Var("MEMORY_LIMIT", None, "", text,
        "Tope de memoria para cargar un checkpoint (`64G`, `512M`; `0` = sin comprobar): uno que "
        "pediría más se descarta con un aviso y se sigue sirviendo el anterior (ver «Memoria» en "
        "docs/generar.md).",
        shown="la memoria disponible", trainer=True),  # la lee shared/common/memory_estimate.py
)  # fmt: skip


VARIABLES_BY_NAME = {var.name: var for var in VARIABLES}


def read(var: Var, env: Mapping[str, str], values: Mapping[str, Any]) -> Any:
    """El valor de una variable: vacía o sin definir, el de por defecto; si no, validado."""
    raw = env.get(var.name, "").strip()
    if not raw:
        return var.default(values) if callable(var.default) else var.default
    return var.parse(var.name, raw)


def _default(name: str) -> Any:
    """El valor por defecto de un campo de ``Settings``: el de su variable en ``VARIABLES``
    (uno calculado se calcula al crear el objeto, con los valores por defecto de los demás)."""
    var = VARIABLES_BY_NAME[name]
    if not callable(var.default):
        return field(default=var.default)

    def factory() -> Any:
        values: dict[str, Any] = {}
        for other in VARIABLES[: VARIABLES.index(var)]:
            if other.field is not None:
                values[other.field] = read(other, {}, values)
        return var.default(values)

    return field(default_factory=factory)


@dataclass(frozen=True)
class Settings:
    """Los ajustes ya leídos y validados; un campo por variable de ``VARIABLES``."""

    host: str = _default("HOST")
    port: int = _default("PORT")
    model: str = _default("MODEL")
    checkpoint_dir: Path = _default("CHECKPOINT_DIR")
    torch_threads: int = _default("TORCH_THREADS")
    web_concurrency: int = _default("WEB_CONCURRENCY")
    threads: int = _default("GUNICORN_THREADS")
    timeout: int = _default("GUNICORN_TIMEOUT")
    client_timeout: float = _default("CLIENT_TIMEOUT")
    api_key: str = _default("API_KEY")
    max_new_tokens: int = _default("MAX_NEW_TOKENS")
    max_prompt_chars: int = _default("MAX_PROMPT_CHARS")
    max_body_bytes: int = _default("MAX_BODY_BYTES")
    max_concurrent_generations: int = _default("MAX_CONCURRENT_GENERATIONS")
    max_extra_models: int = _default("MAX_EXTRA_MODELS")
    max_attention_chars: int = _default("MAX_ATTENTION_CHARS")
    reload_interval: float = _default("RELOAD_INTERVAL")
    batching: bool = _default("BATCHING")
    log_level: str = _default("LOG_LEVEL")
    device: str = _default("DEVICE")

    @property
    def local_only(self) -> bool:
        """Si solo se escucha en esta máquina (``localhost`` o una dirección de loopback)."""
        return self.host == "localhost" or ipaddress.ip_address(self.host.strip("[]")).is_loopback

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Lee y valida los ajustes; un valor inválido da un ``ConfigError`` en español."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var in VARIABLES:
            value = read(var, env, values)
            if var.field is not None:
                values[var.field] = value
        return cls(**values)

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

"""Configuration: defaults in code, ``KIWAME_*`` environment variables override, tests pass a mapping."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
# The checkout's root (…/service/config.py -> …): an editable install reads migrations/ and exercises/ there.
REPO_ROOT = PACKAGE_DIR.parent


class ConfigError(Exception):
    """A setting that cannot work (missing folder, unwritable instance); the message names what to set."""


def bundled_dir(name: str) -> Path:
    """A top-level folder shipped with Kiwame: the wheel's copy (``service/_bundled``), else the checkout's."""
    packaged = PACKAGE_DIR / "_bundled" / name
    return packaged if packaged.is_dir() else REPO_ROOT / name


DEFAULTS: dict[str, Any] = {
    "KIWAME_INSTANCE_DIR": None,  # None: ./instance in the working directory (never inside the package)
    "KIWAME_DATABASE_URL": None,  # None: sqlite:///<instance>/kiwame.sqlite3
    "KIWAME_EXERCISES_DIR": None,  # None: the bundled exercises
    "KIWAME_SECRET_KEY": None,  # None: generated once into <instance>/secret_key (mode 0600)
    "KIWAME_REDIS_URL": None,
    "KIWAME_GRADING_WORKERS": 2,
    "KIWAME_RATE_LIMIT": "120 per minute",
    "KIWAME_SUBMIT_RATE_LIMIT": "30 per minute",
    "KIWAME_MAX_CODE_BYTES": 64 * 1024,
    "KIWAME_MAX_CONTENT_LENGTH": 256 * 1024,
    "KIWAME_WEBHOOK_SECRET": None,  # None: derived from the secret key
    "KIWAME_WEBHOOK_MAX_ATTEMPTS": 5,
    "KIWAME_WEBHOOK_BACKOFF_S": 2.0,
    "KIWAME_WEBHOOK_TIMEOUT_S": 5.0,
    "KIWAME_WEBHOOK_ALLOW_PRIVATE": False,  # True: callbacks may target loopback/private addresses
    "KIWAME_MAX_WAIT_S": 30,
    "KIWAME_SANDBOX_SIZE": None,  # None: the sandbox pool's default
    "KIWAME_AUTO_MIGRATE": None,  # None: only on the embedded SQLite default
    "KIWAME_AUTO_RELOAD": True,  # re-read changed exercise files (checked at most once a second)
    "KIWAME_PROXY_COUNT": 0,  # reverse proxies in front whose X-Forwarded-For/-Proto are trusted
    "KIWAME_SIGNUP_RATE_LIMIT": "50 per hour",  # per address
    "KIWAME_ADDRESS_SUBMIT_RATE_LIMIT": "300 per minute",  # gradings per address, all users together
    "KIWAME_GLOBAL_SUBMIT_RATE_LIMIT": "1200 per minute",  # gradings for the whole service
    "KIWAME_METRICS": True,  # serve /metrics (Prometheus text format)
    "KIWAME_LOG_FORMAT": "json",  # json: one JSON object per line; text: for a terminal
    "KIWAME_LOG_LEVEL": "INFO",
}

_INT_KEYS = {"KIWAME_GRADING_WORKERS", "KIWAME_MAX_CODE_BYTES", "KIWAME_MAX_CONTENT_LENGTH",
             "KIWAME_WEBHOOK_MAX_ATTEMPTS", "KIWAME_MAX_WAIT_S", "KIWAME_SANDBOX_SIZE",
             "KIWAME_PROXY_COUNT"}
_FLOAT_KEYS = {"KIWAME_WEBHOOK_BACKOFF_S", "KIWAME_WEBHOOK_TIMEOUT_S"}
_BOOL_KEYS = {"KIWAME_AUTO_MIGRATE", "KIWAME_AUTO_RELOAD", "KIWAME_WEBHOOK_ALLOW_PRIVATE", "KIWAME_METRICS"}


def _coerce(key: str, value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if key in _INT_KEYS:
        return int(value)
    if key in _FLOAT_KEYS:
        return float(value)
    if key in _BOOL_KEYS:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, ``KIWAME_*`` environment variables and an explicit mapping (highest wins)."""
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = dict(DEFAULTS)
    for key, value in env.items():
        if key.startswith("KIWAME_"):
            cfg[key] = _coerce(key, value)
    for key, value in (overrides or {}).items():
        cfg[key] = _coerce(key, value)
    instance = Path(cfg["KIWAME_INSTANCE_DIR"] or Path.cwd() / "instance").resolve()
    cfg["KIWAME_INSTANCE_DIR"] = str(instance)
    exercises = Path(cfg["KIWAME_EXERCISES_DIR"] or bundled_dir("exercises")).resolve()
    if not exercises.is_dir():
        raise ConfigError(f"the exercises folder {exercises} does not exist: "
                          "set KIWAME_EXERCISES_DIR to a folder of exercise YAML files")
    cfg["KIWAME_EXERCISES_DIR"] = str(exercises)
    try:
        instance.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the instance folder {instance} ({exc.strerror or exc}): "
                          "set KIWAME_INSTANCE_DIR to a writable folder") from exc
    if not cfg.get("KIWAME_DATABASE_URL"):
        cfg["KIWAME_DATABASE_URL"] = f"sqlite:///{instance / 'kiwame.sqlite3'}"
        cfg["KIWAME_EMBEDDED_DB"] = True
    else:
        cfg.setdefault("KIWAME_EMBEDDED_DB", False)
    if cfg.get("KIWAME_AUTO_MIGRATE") is None:
        cfg["KIWAME_AUTO_MIGRATE"] = bool(cfg["KIWAME_EMBEDDED_DB"])
    if not cfg.get("KIWAME_SECRET_KEY"):
        cfg["KIWAME_SECRET_KEY"] = instance_secret(instance)
    return cfg


def instance_secret(instance: Path) -> str:
    """The secret key kept in the instance folder, created once with mode 0600."""
    path = instance / "secret_key"
    try:
        # O_EXCL: two processes starting at once must not both write (and disagree on) the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot write the instance folder {instance} ({exc.strerror or exc}): "
                          "set KIWAME_INSTANCE_DIR to a writable folder, or KIWAME_SECRET_KEY") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def flask_settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The Flask / extension settings derived from the Kiwame ones."""
    url = cfg["KIWAME_DATABASE_URL"]
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # Worker threads share the SQLite file; wait for the writer instead of failing with "locked".
        engine_options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "SECRET_KEY": cfg["KIWAME_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MAX_CONTENT_LENGTH": cfg["KIWAME_MAX_CONTENT_LENGTH"],
        "RATELIMIT_STORAGE_URI": cfg["KIWAME_REDIS_URL"] or "memory://",
        "RATELIMIT_DEFAULT": cfg["KIWAME_RATE_LIMIT"],
        "RATELIMIT_HEADERS_ENABLED": True,
        "API_TITLE": "Kiwame API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Served from service/api/static: no CDN, the docs work offline.
        "OPENAPI_SWAGGER_UI_URL": "/api/static/swagger-ui/",
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    }

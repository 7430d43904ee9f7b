"""Configuration: defaults in code, ``KIWAME_*`` environment variables override, tests pass a mapping."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The repository root (…/service/config.py -> …): bundled exercises and migrations live there, so a
# checkout installed with ``pip install -e .`` finds them wherever the process starts.
REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    "KIWAME_INSTANCE_DIR": str(REPO_ROOT / "instance"),
    "KIWAME_DATABASE_URL": None,  # None: sqlite:///<instance>/kiwame.sqlite3
    "KIWAME_EXERCISES_DIR": str(REPO_ROOT / "exercises"),
    "KIWAME_SECRET_KEY": None,  # None: generated once into <instance>/secret_key (mode 0600)
    "KIWAME_REDIS_URL": None,
    "KIWAME_GRADING_WORKERS": 8,  # threads; fairness (services/fairness.py) needs more than hostile learners
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
}

_INT_KEYS = {"KIWAME_GRADING_WORKERS", "KIWAME_MAX_CODE_BYTES", "KIWAME_MAX_CONTENT_LENGTH",
             "KIWAME_WEBHOOK_MAX_ATTEMPTS", "KIWAME_MAX_WAIT_S", "KIWAME_SANDBOX_SIZE"}
_FLOAT_KEYS = {"KIWAME_WEBHOOK_BACKOFF_S", "KIWAME_WEBHOOK_TIMEOUT_S"}
_BOOL_KEYS = {"KIWAME_AUTO_MIGRATE", "KIWAME_AUTO_RELOAD", "KIWAME_WEBHOOK_ALLOW_PRIVATE"}


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
    instance = Path(cfg["KIWAME_INSTANCE_DIR"]).resolve()
    cfg["KIWAME_INSTANCE_DIR"] = str(instance)
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
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    try:
        # O_EXCL: two processes starting at once must not both write (and disagree on) the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
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

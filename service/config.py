"""Configuration: every ``KIWAME_*`` key declared once in ``Settings``; environment and a mapping override.

To add a setting, add one field to ``Settings`` (type, default, one-line doc), a row to README.md's
configuration table (a test checks it), and read it as ``settings(app).<name>``. The environment variable
is ``KIWAME_`` + the upper-cased field name; strings are coerced to the field's type.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

PACKAGE_DIR = Path(__file__).resolve().parent
# The checkout's root (…/service/config.py -> …): an editable install reads migrations/ and exercises/ there.
REPO_ROOT = PACKAGE_DIR.parent
PREFIX = "KIWAME_"
_TRUE = {"1", "true", "yes", "on"}


class ConfigError(Exception):
    """A setting that cannot work (missing folder, unwritable instance); the message names what to set."""


def bundled_dir(name: str) -> Path:
    """A top-level folder shipped with Kiwame: the wheel's copy (``service/_bundled``), else the checkout's."""
    packaged = PACKAGE_DIR / "_bundled" / name
    return packaged if packaged.is_dir() else REPO_ROOT / name


def setting(default: Any, doc: str, *, derived: bool = False, secret: bool = False) -> Any:
    """One ``Settings`` field; ``derived`` ones are computed by ``load``, never read from the environment;
    ``secret`` ones stay out of ``repr`` (logs, tracebacks)."""
    return field(default=default, repr=not secret, metadata={"doc": doc, "derived": derived})


@dataclass(frozen=True)
class Settings:
    """Every ``KIWAME_*`` key, typed (read them as ``settings(app).max_wait_s``)."""

    instance_dir: str = setting("", "folder for the SQLite file and the secret key; unset: ./instance in the "
                                "working directory (never inside the installed package)")
    database_url: str | None = setting(None, "SQLAlchemy URL; unset: sqlite:///<instance>/kiwame.sqlite3",
                                        secret=True)  # may hold a password
    exercises_dir: str = setting("", "the exercise YAML tree; unset: the bundled exercises")
    secret_key: str | None = setting(None, "session/CSRF key; unset: generated once into <instance>/secret_key",
                                      secret=True)
    redis_url: str | None = setting(None, "shared rate-limit storage; unset: counters in memory")
    # More than the hostile learners one expects at once: each holds at most one (services/fairness.py).
    grading_workers: int = setting(8, "in-process grading threads, served round-robin per learner")
    rate_limit: str = setting("120 per minute", "requests per signed-in user (per address when anonymous)")
    submit_rate_limit: str = setting("30 per minute", "gradings per user (API and web together)")
    address_submit_rate_limit: str = setting("300 per minute", "gradings per client address, all its users")
    global_submit_rate_limit: str = setting("1200 per minute", "gradings for the whole service")
    signup_rate_limit: str = setting("50 per hour", "sign-ups per client address")
    proxy_count: int = setting(0, "reverse proxies in front whose X-Forwarded-For/-Proto are trusted")
    metrics: bool = setting(True, "serve /metrics (Prometheus text format)")
    log_format: str = setting("json", "json: one JSON object per line; text: for a terminal")
    log_level: str = setting("INFO", "the root logger's level (kiwame serve)")
    max_code_bytes: int = setting(64 * 1024, "largest submitted source, in bytes")
    max_content_length: int = setting(256 * 1024, "largest request body, in bytes")
    webhook_secret: str | None = setting(None, "webhook signing secret; unset: derived from the secret key",
                                          secret=True)
    webhook_max_attempts: int = setting(5, "outbox deliveries: attempts before a delivery is marked failed")
    webhook_backoff_s: float = setting(2.0, "outbox deliveries: first retry delay, doubled per attempt")
    webhook_timeout_s: float = setting(5.0, "timeout of one webhook POST, in seconds")
    webhook_allow_private: bool = setting(False, "allow webhook callbacks to loopback/private addresses")
    max_wait_s: int = setting(30, "the cap on ?wait= (seconds a request may block for its grade)")
    sandbox_size: int | None = setting(None, "concurrent sandbox jobs; unset: 2 x grading_workers + 2")
    sandbox_cgroups: str = setting("auto", "auto: a cgroup leaf per sandbox where the host has cgroups, else "
                                   "single-process sandboxes; require: refuse to grade without cgroups; off")
    auto_migrate: bool | None = setting(None, "migrate at start-up; unset: only the embedded SQLite")
    auto_migrate_on_serve: bool = setting(False, "kiwame serve migrates before starting its worker")
    auto_reload: bool = setting(True, "re-read changed exercise files (checked at most once a second)")
    secure_cookies: bool = setting(False, "mark session cookies Secure (turn on behind HTTPS)")
    session_cookie: str = setting("kiwame_session", "name of the browser session cookie")
    broker_url: str | None = setting(None, "queue mode: Celery broker (Redis) URL; the web tier then never grades",
                                      secret=True)  # may hold a password
    grading_lease_s: float = setting(120.0, "queue mode: a claim's lease; longer than the longest grading")
    sweep_interval_s: float = setting(10.0, "how often a grader re-enqueues lost messages and expired leases")
    requeue_after_s: float = setting(30.0, "a queued row not claimed this long after its message is re-sent")
    visibility_timeout_s: int = setting(3600, "queue mode: Redis redelivers an unacknowledged task after this")
    db_retry_s: float = setting(60.0, "grading retries its database writes with backoff for this long")
    wait_poll_s: float = setting(5.0, "?wait= re-reads the database this often (safety net under notifications)")
    public_url: str | None = setting(None, "the public https:// base the LMS was given; unset: the request's host")
    lti_http_timeout_s: float = setting(10.0, "LTI: timeout of each call to a platform (JWKS, token, scores, roster)")
    lti_clock_skew_s: float = setting(60.0, "LTI: tolerated clock difference for id_token exp/iat, in seconds")
    lti_login_ttl_s: float = setting(600.0, "LTI: how long an OIDC login (state + nonce) may take, in seconds")
    lti_backoff_s: float = setting(5.0, "LTI score passback: first retry delay, doubled per attempt")
    lti_backoff_max_s: float = setting(300.0, "LTI score passback: longest delay between two attempts")
    lti_max_attempts: int = setting(30, "LTI score passback: attempts before a score is marked failed")
    embedded_db: bool = setting(False, "derived: True when database_url was unset", derived=True)

    def to_config(self) -> dict[str, Any]:
        """The flat ``KIWAME_*`` keys Flask's ``app.config`` keeps."""
        return {key_of(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}


def key_of(name: str) -> str:
    return PREFIX + name.upper()


FIELDS: dict[str, dataclasses.Field[Any]] = {key_of(f.name): f for f in dataclasses.fields(Settings)}
_TYPES: dict[str, Any] = typing.get_type_hints(Settings)


def _base_type(hint: Any) -> Any:
    """``int | None`` -> ``int``: the type a string value is coerced to."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def coerce(key: str, value: Any) -> Any:
    """A raw value (an environment string) as the declared type of ``key``; unknown keys pass unchanged."""
    if key not in FIELDS or not isinstance(value, str):
        return value
    hint = _TYPES[FIELDS[key].name]
    kind = _base_type(hint)
    if kind is bool:
        return value.strip().lower() in _TRUE
    if kind in (int, float):
        if not value.strip() and kind is not hint:  # an optional number left empty means "unset"
            return None
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, not {value!r}") from None
    return value


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, ``KIWAME_*`` environment variables and an explicit mapping (highest wins)."""
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = Settings().to_config()
    for source in (env, overrides or {}):
        for key, value in source.items():
            if key.startswith(PREFIX) and not (key in FIELDS and FIELDS[key].metadata["derived"]):
                cfg[key] = coerce(key, value)
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
    cfg["KIWAME_EMBEDDED_DB"] = not cfg.get("KIWAME_DATABASE_URL")
    if cfg["KIWAME_EMBEDDED_DB"]:
        cfg["KIWAME_DATABASE_URL"] = f"sqlite:///{instance / 'kiwame.sqlite3'}"
    if cfg.get("KIWAME_AUTO_MIGRATE") is None:
        cfg["KIWAME_AUTO_MIGRATE"] = bool(cfg["KIWAME_EMBEDDED_DB"])
    if not cfg.get("KIWAME_SECRET_KEY"):
        cfg["KIWAME_SECRET_KEY"] = instance_secret(instance)
    return cfg


def from_config(cfg: Mapping[str, Any]) -> Settings:
    """The typed view of a flat mapping (``app.config`` or ``load()``'s result)."""
    return Settings(**{f.name: coerce(key, cfg[key]) for key, f in FIELDS.items() if key in cfg})


_KEY = "kiwame.settings"


def install(app: Flask, values: Settings) -> None:
    app.extensions[_KEY] = values


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The typed settings of a process without an app (e.g. a CLI command that only needs a path)."""
    return from_config(load(environ=environ))


def settings(app: Flask) -> Settings:
    """The app's typed settings (built by ``create_app``; from ``app.config`` for an app built otherwise)."""
    found = app.extensions.get(_KEY)
    if not isinstance(found, Settings):
        found = app.extensions[_KEY] = from_config(app.config)
    return found


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
        # Worker threads share the SQLite file; wait for the writer instead of failing with "locked" (and
        # take turns on an in-process lock rather than SQLite's sleeping busy handler: persistence/sqlite_writes.py).
        engine_options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "SECRET_KEY": cfg["KIWAME_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MAX_CONTENT_LENGTH": cfg["KIWAME_MAX_CONTENT_LENGTH"],
        "RATELIMIT_STORAGE_URI": cfg["KIWAME_REDIS_URL"] or "memory://",
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

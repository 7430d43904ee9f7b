"""Alembic, driven from code: ``kiwame db upgrade`` and the embedded-SQLite auto-upgrade use this."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from flask import Flask

from service.config import REPO_ROOT, ConfigError, bundled_dir
from service.extensions import db

MIGRATIONS_DIR = bundled_dir("migrations")


def alembic_config(url: str, connection: Any = None) -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ConfigError(f"the Alembic migrations are missing at {MIGRATIONS_DIR}: "
                          "reinstall kiwame (the wheel ships them) or run from a checkout")
    # alembic.ini only exists in a checkout (its logging section); an installed wheel needs none.
    ini = REPO_ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() and MIGRATIONS_DIR.parent == REPO_ROOT else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(app: Flask, revision: str = "head") -> None:
    """Apply the migrations to the app's database (creating the SQLite file's folder when needed)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    with app.app_context(), db.engine.begin() as connection:
        command.upgrade(alembic_config(url, connection), revision)


@functools.lru_cache(maxsize=1)
def head() -> str | None:
    """The newest revision the shipped migrations define (read once: they do not change while running)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(app: Flask) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

"""The Flask extension singletons: database and rate limiter (bound in ``create_app``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from flask_limiter import Limiter
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Why a naming convention: Alembic needs stable constraint names to alter or drop them later,
# and PostgreSQL and SQLite would otherwise name them differently.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite ignores foreign keys (so ON DELETE CASCADE) unless asked, per connection; WAL lets the
    grading threads write while requests read; in WAL mode ``synchronous=NORMAL`` syncs at checkpoints
    rather than on every commit (still crash-safe: a power cut can lose the last commits, never corrupt)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


# Functions that name the signed-in user of a request ("user:<id>") or return None; the API (bearer
# tokens) and the web (sessions) each register one, so this module needs neither.
RATE_IDENTITIES = "kiwame.rate_identities"
F = TypeVar("F", bound=Callable[..., Any])


def address_key() -> str:
    return "ip:" + (request.remote_addr or "unknown")


def rate_limit_key() -> str:
    """Per user when signed in (a classroom behind one NAT is many users), else per client address."""
    for identify in current_app.extensions.get(RATE_IDENTITIES, ()):
        who = identify()
        if who:
            return str(who)
    return address_key()


def _page_limit() -> str:
    return str(current_app.config["KIWAME_RATE_LIMIT"])


# The default limit is read per request: Flask-Limiter keeps the first app's RATELIMIT_DEFAULT for every
# later app of the process, so a setting read from the config would silently not apply to those.
limiter = Limiter(key_func=rate_limit_key, default_limits=[_page_limit])


def _setting(key: str) -> Callable[[], str]:
    # The flat KIWAME_* key: this module sits below config (it imports nothing of Kiwame).
    return lambda: str(current_app.config[key])


def limit_grading(view: F) -> F:
    """The grading budgets, shared by every endpoint that grades (API and web): per user, per address
    (fresh accounts from one address do not multiply the per-user one) and for the whole service."""
    budgets = (
        limiter.shared_limit(_setting("KIWAME_SUBMIT_RATE_LIMIT"), scope="grading-user"),
        limiter.shared_limit(_setting("KIWAME_ADDRESS_SUBMIT_RATE_LIMIT"), scope="grading-address",
                             key_func=address_key),
        limiter.shared_limit(_setting("KIWAME_GLOBAL_SUBMIT_RATE_LIMIT"), scope="grading-global",
                             key_func=lambda: "all"),
    )
    wrapped: Any = view
    for budget in budgets:
        wrapped = budget(wrapped)
    return wrapped  # type: ignore[no-any-return]

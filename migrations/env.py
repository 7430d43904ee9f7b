"""Alembic environment: Kiwame's model metadata, a connection handed in by the app or a URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from service.persistence import db
from service.persistence.models import UTCDateTime

config = context.config
target_metadata = db.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("KIWAME_DATABASE_URL")
    if not url:
        raise RuntimeError("set KIWAME_DATABASE_URL (or run `kiwame db upgrade`)")
    return url


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Migrations must not import application code: render the UTC wrapper as the plain column type.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.begin() as conn:
        _configure(conn)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

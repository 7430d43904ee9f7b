"""The Alembic migrations and the models agree, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from service.extensions import db
from service.persistence.migrate import MIGRATIONS_DIR, alembic_config


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty database of each backend (PostgreSQL only when TEST_DATABASE_URL is set)."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
        yield engine
        engine.dispose()
        return
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL not set")
    url = sa.make_url(base)
    name = f"{url.database}_migrations_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(url.set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_models_and_migrations_agree(fresh_engine: sa.Engine) -> None:
    with fresh_engine.begin() as conn:
        command.upgrade(alembic_config(str(fresh_engine.url), conn), "head")
    with fresh_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_base_and_back(fresh_engine: sa.Engine) -> None:
    url = str(fresh_engine.url)
    with fresh_engine.begin() as conn:
        command.upgrade(alembic_config(url, conn), "head")
    with fresh_engine.begin() as conn:
        command.downgrade(alembic_config(url, conn), "base")
    assert set(sa.inspect(fresh_engine).get_table_names()) <= {"alembic_version"}
    with fresh_engine.begin() as conn:
        command.upgrade(alembic_config(url, conn), "head")
    assert {"users", "submissions", "web_sessions"} <= set(sa.inspect(fresh_engine).get_table_names())


def test_single_head() -> None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1

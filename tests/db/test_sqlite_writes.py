"""The embedded SQLite's in-process write turns (persistence/sqlite_writes.py), with real connections."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from service.persistence import db
from service.persistence.sqlite_writes import TurnTakingConnection


def connect(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, factory=TurnTakingConnection)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def table(tmp_path: Path) -> Path:
    path = tmp_path / "t.sqlite3"
    with connect(path) as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    return path


def test_a_second_writer_waits_for_the_first_commit_and_reads_never_wait(tmp_path: Path) -> None:
    path = table(tmp_path)
    first, second = connect(path), connect(path)
    first.execute("INSERT INTO t VALUES (1)")  # opens a write transaction: holds the turn
    assert second.execute("SELECT count(*) FROM t").fetchone() == (0,)  # WAL: a read goes on beside it
    done: list[float] = []
    writer = threading.Thread(target=lambda: (second.execute("INSERT INTO t VALUES (2)"), second.commit(),
                                              done.append(time.monotonic())))
    writer.start()
    time.sleep(0.3)
    assert not done  # waiting on the turn (not failing with "database is locked")
    committed = time.monotonic()
    first.commit()
    writer.join(5)
    assert done and done[0] >= committed
    assert first.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]


def test_rollback_and_close_give_the_turn_back(tmp_path: Path) -> None:
    path = table(tmp_path)
    a = connect(path)
    a.execute("UPDATE t SET n = 1")
    a.rollback()
    b = connect(path, timeout=1.0)
    b.execute("INSERT INTO t VALUES (3)")  # would wait a second and fail if the rollback kept the turn
    b.close()  # closing with the transaction open gives it back too
    c = connect(path, timeout=1.0)
    c.execute("DELETE FROM t")
    c.commit()


def test_a_turn_never_released_degrades_to_sqlite_locking_instead_of_hanging(tmp_path: Path) -> None:
    path = table(tmp_path)
    holder = connect(path)
    holder.execute("INSERT INTO t VALUES (1)")
    late = connect(path, timeout=0.2)
    started = time.monotonic()
    try:
        late.execute("INSERT INTO t VALUES (2)")
        raised = None
    except sqlite3.OperationalError as exc:
        raised = exc
    assert raised is not None and "locked" in str(raised)  # SQLite's own answer, after both waits
    assert time.monotonic() - started < 5
    holder.commit()


def test_the_apps_sqlite_connections_take_turns(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL has its own row locks: only the embedded SQLite takes turns")
        with db.engine.connect() as conn:
            assert isinstance(conn.connection.dbapi_connection, TurnTakingConnection)

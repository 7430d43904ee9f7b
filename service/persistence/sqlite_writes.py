"""Embedded SQLite: this process's write transactions take turns on a Python lock, not SQLite's busy sleeps.

SQLite lets one writer in at a time. A connection that finds the file locked waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries: with eight requests and the grading
threads writing, most of a submission's time went to those sleeps (the lock was long free by the time
the sleeper looked again). The embedded server is one process, so its threads queue on a lock here
instead and are woken the moment the previous writer commits. Only write transactions take it (pysqlite
opens a transaction at the first INSERT/UPDATE/DELETE/REPLACE; plain reads never do, and WAL lets them
run beside the writer); COMMIT, ROLLBACK and closing the connection give it back. Other processes (a
``kiwame`` command, a second server) still meet SQLite's own locking, as before. A thread that cannot
get the lock in ``timeout`` seconds goes on without it, so a bug that would hold it forever degrades to
SQLite's behaviour instead of hanging the server.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

_WRITES = threading.Lock()  # one per process: every engine on the embedded file shares it
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        self._turn(sql)
        return super().execute(sql, parameters)  # type: ignore[return-value]

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        self._turn(sql)
        return super().executemany(sql, seq_of_parameters)  # type: ignore[return-value]

    def _turn(self, sql: str) -> None:
        conn = self.connection
        if isinstance(conn, TurnTakingConnection) and not conn.in_transaction:
            conn.take_turn(sql)


class TurnTakingConnection(sqlite3.Connection):
    """A pysqlite connection whose write transactions hold the process's write lock (``factory=`` of connect)."""

    _holding = False
    _wait_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wait_s = float(kwargs.get("timeout", args[1] if len(args) > 1 else 5.0))

    def take_turn(self, sql: str) -> None:
        """Before a statement outside a transaction: a write (which opens one) waits for its turn."""
        if self._holding or not sql.lstrip()[:7].upper().startswith(_DML):
            return
        self._holding = _WRITES.acquire(timeout=self._wait_s)

    def _end_turn(self) -> None:
        if self._holding:
            self._holding = False
            _WRITES.release()

    def cursor(self, factory: Any = _Cursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()


@event.listens_for(Engine, "do_connect")
def _take_turns(dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    """Every pysqlite connection of this process is a ``TurnTakingConnection`` (registered on import of
    ``service.persistence``; PostgreSQL connections are left alone)."""
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        cparams.setdefault("factory", TurnTakingConnection)

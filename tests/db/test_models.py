"""Model-level guarantees on the real database: hashed secrets, unique keys, cascades, aware timestamps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from service.persistence import ApiToken, Progress, SubmissionRow, User, WebSession
from service.persistence import db as database
from service.services import tokens, users


def test_secrets_are_stored_hashed(app: Flask, make_user: Callable) -> None:
    make_user("ana", password="a very secret phrase")
    with app.app_context():
        created = tokens.create_token("ana", "ci")
        stored = database.session.scalar(sa.select(ApiToken))
        user = database.session.scalar(sa.select(User).where(User.name == "ana"))
        assert stored is not None and user is not None
        assert created.token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
        assert user.password_hash and "a very secret phrase" not in user.password_hash
        assert users.authenticate("ana", "a very secret phrase") is not None
        assert users.authenticate("ana", "wrong") is None and users.authenticate("nobody", "x") is None


def test_idempotency_key_unique_per_user(app: Flask, make_user: Callable) -> None:
    ana, bo = make_user("ana"), make_user("bo")
    with app.app_context():
        database.session.add_all([SubmissionRow(user_id=ana.id, exercise_id="e", idempotency_key="k", source="api"),
                            SubmissionRow(user_id=bo.id, exercise_id="e", idempotency_key="k", source="api"),
                            SubmissionRow(user_id=ana.id, exercise_id="e", source="api"),
                            SubmissionRow(user_id=ana.id, exercise_id="e", source="api")])
        database.session.commit()
        database.session.add(SubmissionRow(user_id=ana.id, exercise_id="e", idempotency_key="k", source="api"))
        with pytest.raises(sa.exc.IntegrityError):
            database.session.commit()
        database.session.rollback()


def test_check_constraints(make_user: Callable, db: sa.orm.Session) -> None:
    ana = make_user("ana")
    db.add(SubmissionRow(user_id=ana.id, exercise_id="e", status="lost", source="api"))
    with pytest.raises(sa.exc.IntegrityError):
        db.commit()
    db.rollback()


def test_deleting_a_user_cascades(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana")
    with app.app_context():
        tokens.create_token("ana")
        now = datetime.now(UTC)
        database.session.add_all([Progress(user_id=ana.id, exercise_id="e", best_score=0.5, attempts=1, solved=False),
                            WebSession(id="h" * 64, user_id=ana.id, data={"lang": "ja"}, expires_at=now)])
        database.session.commit()
        database.session.execute(sa.delete(User).where(User.id == ana.id))
        database.session.commit()
        for model in (ApiToken, Progress, WebSession):
            assert database.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0


def test_timestamps_come_back_timezone_aware(app: Flask, make_user: Callable) -> None:
    make_user("ana")
    with app.app_context():
        expires = datetime.now(UTC) + timedelta(hours=1)
        database.session.add(WebSession(id="s" * 64, user_id=None, data={}, expires_at=expires))
        database.session.commit()
        database.session.expire_all()
        row = database.session.get(WebSession, "s" * 64)
        user = database.session.scalar(sa.select(User))
        assert row is not None and user is not None
        assert row.expires_at.tzinfo is not None and abs(row.expires_at - expires) < timedelta(seconds=1)
        assert user.created_at.tzinfo is not None

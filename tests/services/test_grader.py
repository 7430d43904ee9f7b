"""The grading pool: crashes become stored error results, stale work is re-queued, waiting wakes up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from service.persistence import Progress, SubmissionRow, db
from service.services import submissions
from service.services.queue import recover
from service.services.runtime import runtime

QUIZ = "permute-shape-quiz"


class ExplodingEngine:
    def grade(self, exercise: Any, submission: Any) -> Any:
        raise RuntimeError("engine blew up")


def _submit(app: Flask, user_id: int, answer: Any, **kwargs: Any) -> submissions.SubmissionView:
    with app.test_request_context():
        return submissions.submit(submissions.SubmitRequest(user_id=user_id, exercise_id=QUIZ, answer=answer,
                                                            **kwargs))


def _wait(app: Flask, view: submissions.SubmissionView, timeout: float = 10) -> submissions.SubmissionView:
    with app.app_context():
        return submissions.wait_for(view.id, timeout, viewer_id=view.user_id, staff=False)


def test_engine_crash_is_stored_as_explained_error(make_app: Callable[..., Flask], make_user: Callable) -> None:
    app = make_app()
    runtime(app).engine = ExplodingEngine()  # type: ignore[assignment]
    ana = make_user("ana")
    done = _wait(app, _submit(app, ana.id, [7, 4]))
    assert done.status == "error" and done.score == 0.0 and done.passed is False
    assert done.diagnosis == "grader_error"
    assert "engine blew up" in done.result["diagnoses"][0]["message"]
    with app.app_context():  # an infrastructure error is not a learner's attempt
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Progress)) == 0


def test_recover_requeues_stale_rows(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana")
    with app.app_context():
        rows = [SubmissionRow(user_id=ana.id, exercise_id=QUIZ, answer=[7, 4], status=status, source="api")
                for status in ("queued", "running", "graded")]
        rows[2].score, rows[2].passed = 0.5, False
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
        assert recover(runtime(app).queue) == 2
        for submission_id in ids[:2]:
            submissions.wait_for(submission_id, 10, viewer_id=ana.id, staff=False)
        db.session.expire_all()
        statuses = {r.id: (r.status, r.passed) for r in db.session.scalars(sa.select(SubmissionRow))}
    assert statuses[ids[0]] == ("graded", True) and statuses[ids[1]] == ("graded", True)
    assert statuses[ids[2]] == ("graded", False)  # already final: left alone


def test_wait_wakes_up_as_soon_as_graded(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana")
    started = time.monotonic()
    done = _wait(app, _submit(app, ana.id, [7, 4]), timeout=20)
    assert done.status == "graded"
    assert time.monotonic() - started < 5  # not the full timeout


def test_wait_times_out_on_stuck_submission(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana")
    with app.app_context():
        row = SubmissionRow(user_id=ana.id, exercise_id=QUIZ, answer=[7, 4], status="running", source="api")
        db.session.add(row)
        db.session.commit()
        started = time.monotonic()
        view = submissions.wait_for(row.id, 0.5, viewer_id=ana.id, staff=False)
    assert view.status == "running" and 0.4 < time.monotonic() - started < 3


def test_exercise_version_recorded(app: Flask, make_user: Callable) -> None:
    ana = make_user("ana")
    done = _wait(app, _submit(app, ana.id, [7, 4]))
    with app.app_context():
        exercise = runtime(app).catalog.get(QUIZ)
        row = db.session.get(SubmissionRow, done.id)
        assert row is not None and row.exercise_version is not None
        assert row.exercise_version.content_hash == exercise.content_hash
        assert row.exercise_version.snapshot["prompt"]["en"] == exercise.prompt.en
        assert "answer" not in row.exercise_version.snapshot

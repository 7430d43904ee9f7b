"""Instructor pages and the instructor service: overview, stats, CSV, catalog status, API tokens."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from flask import Flask

from service.persistence import ApiToken, db
from service.services import instructor
from tests.web.conftest import add_submission, csrf_of, make_user, signin

FIRST = "permute-2d"


def _class(app: Flask) -> tuple[int, int]:
    a = make_user(app, "ann", "learner")
    b = make_user(app, "=cmd", "learner")  # a hostile name must not become a spreadsheet formula
    make_user(app, "teacher", "instructor")
    add_submission(app, a, FIRST, passed=False, diagnosis="reshape_instead_of_permute")
    add_submission(app, a, FIRST, passed=True)
    add_submission(app, b, FIRST, passed=False, diagnosis="reshape_instead_of_permute")
    add_submission(app, b, FIRST, passed=False, diagnosis="shape_mismatch")
    return a, b


def test_stats_count_attempts_solve_rate_and_common_diagnoses(app: Flask) -> None:
    _class(app)
    with app.app_context():
        stats = instructor.exercise_stats(FIRST)
        overview_rate = instructor.class_overview([FIRST]).solve_rate(FIRST)
    assert stats.attempts == 4 and stats.learners_tried == 2 and stats.learners_solved == 1
    assert stats.solve_rate == 0.5 and overview_rate == stats.solve_rate  # the overview derives the same rate
    assert stats.common_diagnoses[0] == ("reshape_instead_of_permute", 2)
    assert ("shape_mismatch", 1) in stats.common_diagnoses


def test_overview_shows_each_learner_and_is_staff_only(app: Flask) -> None:
    _class(app)
    learner = app.test_client()
    signin(learner, "ann")
    assert learner.get("/instructor/").status_code == 403
    assert learner.get("/instructor/grades.csv").status_code == 403
    client = app.test_client()
    signin(client, "teacher")
    html = client.get("/instructor/").get_data(as_text=True)
    row = html.split('data-learner="ann"')[1].split("</tr>")[0]
    assert 'class="num solved" data-exercise="permute-2d"' in row and "100%" in row
    assert 'data-learner="teacher"' not in html  # staff are not part of the class grid
    assert "50%" in html  # the exercise's solve rate in the header


def test_csv_export_has_a_row_per_learner_and_defuses_formulas(app: Flask) -> None:
    _class(app)
    client = app.test_client()
    signin(client, "teacher")
    response = client.get("/instructor/grades.csv?track=basics")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["learner", "display_name", "solved", "total_score"] and FIRST in rows[0]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["ann"][rows[0].index(FIRST)] == "1.00" and by_name["ann"][2] == "1"
    assert "'=cmd" in by_name and "=cmd" not in by_name


def test_learner_submissions_and_code_are_visible_to_staff(app: Flask) -> None:
    a, _ = _class(app)
    sid = add_submission(app, a, FIRST, passed=False, code="return x.reshape(3, 2)  # <b>")
    client = app.test_client()
    signin(client, "teacher")
    assert f"/instructor/submissions/{sid}" in client.get(f"/instructor/learners/{a}").get_data(as_text=True)
    html = client.get(f"/instructor/submissions/{sid}").get_data(as_text=True)
    assert "x.reshape(3, 2)  # &lt;b&gt;" in html
    assert "reshape_instead_of_permute" in client.get(f"/instructor/exercises/{FIRST}").get_data(as_text=True)


def test_catalog_status_lists_loaded_files_and_reloads(app: Flask) -> None:
    make_user(app, "teacher", "instructor")
    client = app.test_client()
    signin(client, "teacher")
    html = client.get("/instructor/catalog").get_data(as_text=True)
    assert FIRST in html
    token = csrf_of(client, "/instructor/catalog")
    response = client.post("/instructor/catalog", data={"csrf_token": token})
    assert response.status_code == 302
    assert FIRST in client.get("/instructor/catalog").get_data(as_text=True)


def test_tokens_are_shown_once_and_revocable(app: Flask) -> None:
    make_user(app, "teacher", "instructor")
    client = app.test_client()
    signin(client, "teacher")
    token = csrf_of(client, "/instructor/tokens")
    html = client.post("/instructor/tokens", data={"csrf_token": token, "name": "lms"}).get_data(as_text=True)
    secret = html.split('<pre id="new-token">')[1].split("</pre>")[0]
    assert secret.startswith("kiw_")
    assert secret not in client.get("/instructor/tokens").get_data(as_text=True)
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken))
        assert row is not None
        tid = row.id
    response = client.post(f"/instructor/tokens/{tid}/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        row = db.session.get(ApiToken, tid)
        assert row is not None and row.revoked_at is not None

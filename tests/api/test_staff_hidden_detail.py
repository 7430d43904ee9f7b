"""Staff may see more of a hidden case than its learner (issue 8): what the trusted comparator found is
stored apart from the result, shown on the staff submission page, and never reaches the learner."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import signin

# Right on the visible 2x3 case; on every hidden case, right but for one element (a wrong answer).
NEARLY = ("import torch\n\ndef solve(x):\n    y = x.permute(1, 0)\n    if x.shape == (2, 3):\n        return y\n"
          "    y = y.clone()\n    y[0, 0] = 4000 + 242  # in no input, and not spelled out here\n    return y\n")


def test_hidden_case_detail_is_for_staff_only(engine: Any, app: Flask, client: FlaskClient,
                                              auth: Callable[..., dict[str, str]],
                                              make_user: Callable[..., Any]) -> None:
    headers = auth("hidey")
    sent = client.post("/api/v1/submissions?wait=10", headers=headers,
                       json={"exercise_id": "permute-2d", "code": NEARLY})
    body = sent.get_json()
    assert body["status"] == "graded" and body["passed"] is False, body
    hidden = [c for c in body["cases"] if not c["visible"]]
    assert hidden and all(c["status"] == "wrong_answer" for c in hidden)

    make_user("teach", "instructor")
    staff = app.test_client()
    signin(staff, "teach", "pw-for-tests")
    page = staff.get(f"/instructor/submissions/{body['id']}").get_data(as_text=True)
    table = page.split('<table id="staff-hidden">')[1].split("</table>")[0]
    assert "coded-4x3" in table and "wrong_answer" in table and "4242" in table  # the trusted mismatch

    # Nothing of it for the learner: API (as sent and read back), the exercise page, the staff URL.
    back = client.get(f"/api/v1/submissions/{body['id']}", headers=headers).get_json()
    for seen in (body, back):
        text = json.dumps(seen)
        assert "4242" not in text and "coded-4x3" not in text and "staff" not in seen
    learner = app.test_client()
    signin(learner, "hidey", "pw-for-tests")
    own = learner.get("/exercises/permute-2d").get_data(as_text=True)  # resumes with the last verdict
    assert "wrong_answer" in own and "4242" not in own and "coded-4x3" not in own
    assert learner.get(f"/instructor/submissions/{body['id']}").status_code == 403
    with app.app_context():
        from service.persistence import SubmissionRow, db

        row = db.session.get(SubmissionRow, body["id"])
        assert row is not None and row.staff_detail and "staff" not in (row.result or {})
        assert "4242" not in json.dumps(row.result)  # the learner-rendered result never held it

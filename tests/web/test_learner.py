"""Learner pages: exercise list with states, exercise page data, history, access control, language."""

from __future__ import annotations

import json
import re

from flask import Flask

from tests.web.conftest import add_submission, csrf_of, make_user, signin, signup

FIRST = "permute-2d"


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask) -> None:
    response = app.test_client().get(f"/exercises/{FIRST}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_exercise_list_groups_by_track_and_shows_states(app: Flask) -> None:
    client = app.test_client()
    signup(client, "lena")
    html = client.get("/").get_data(as_text=True)
    assert 'data-exercise="permute-2d"' in html and "Not tried" in html
    with app.app_context():
        from service.services.users import get_user

        uid = get_user("lena").id
    add_submission(app, uid, FIRST, passed=False, diagnosis="shape_mismatch")
    html = client.get("/").get_data(as_text=True)
    item = html.split('data-exercise="permute-2d"')[1].split("</li>")[0]
    assert "state-tried" in item
    add_submission(app, uid, FIRST, passed=True)
    item = client.get("/").get_data(as_text=True).split('data-exercise="permute-2d"')[1].split("</li>")[0]
    assert "state-solved" in item


def test_exercise_page_carries_visible_inputs_and_starter_but_no_solution(app: Flask) -> None:
    client = app.test_client()
    signup(client, "mia")
    html = client.get(f"/exercises/{FIRST}").get_data(as_text=True)
    data = page_data(html)
    assert data["cases"][0]["inputs"]["x"]["values"] == [[1, 2, 3], [4, 5, 6]]
    assert data["cases"][0]["inputs"]["x"]["shape"] == [2, 3]
    assert "def solve" in data["exercise"]["starter"]
    assert "permute(1, 0)\n" not in data["exercise"]["starter"]
    assert len(data["cases"]) == 1  # hidden cases stay hidden
    assert "<table>" in html  # the prompt's Markdown table is rendered


def test_exercise_page_shows_the_provided_helpers_read_only_but_never_the_solution(app: Flask) -> None:
    client = app.test_client()
    signup(client, "nora")
    html = client.get("/exercises/tp-diag").get_data(as_text=True)
    helpers = html.split('id="helpers"')[1].split("</details>")[0]
    assert "def arange(n):" in helpers and "Provided helpers (read-only)" in helpers
    assert "a[arange(a.shape[0]), arange(a.shape[0])]" not in html  # the reference stays on the server
    assert 'id="helpers"' not in client.get(f"/exercises/{FIRST}").get_data(as_text=True)


def test_prompt_markdown_cannot_inject_html(app: Flask) -> None:
    from service.web.common import markdown

    out = str(markdown("hello <script>alert(1)</script> <img src=x onerror=alert(1)>"))
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out


def test_learner_code_in_history_is_escaped(app: Flask) -> None:
    client = app.test_client()
    signup(client, "nora")
    with app.app_context():
        from service.services.users import get_user

        uid = get_user("nora").id
    add_submission(app, uid, FIRST, passed=False, code="</pre><script>alert(1)</script>")
    html = client.get(f"/exercises/{FIRST}/history").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_learner_cannot_open_another_learners_submission(app: Flask) -> None:
    owner = make_user(app, "olga", "learner")
    sid = add_submission(app, owner, FIRST, passed=True, code="SECRET_CODE = 1")
    client = app.test_client()
    signup(client, "peter")
    assert client.get(f"/submissions/{sid}.json").status_code == 404
    reopened = client.get(f"/exercises/{FIRST}?from={sid}")
    assert reopened.status_code == 404
    assert client.get(f"/instructor/submissions/{sid}").status_code == 403
    # ... while the owner can.
    mine = app.test_client()
    signin(mine, "olga")
    assert mine.get(f"/submissions/{sid}.json").status_code == 200
    assert page_data(mine.get(f"/exercises/{FIRST}?from={sid}").get_data(as_text=True))["code"] == "SECRET_CODE = 1"


def test_submit_endpoint_requires_csrf_header(app: Flask) -> None:
    client = app.test_client()
    signup(client, "quinn")
    response = client.post(f"/exercises/{FIRST}/submit", json={"code": "def solve(x):\n    return x\n"})
    assert response.status_code == 400 and response.get_json()["code"] == "csrf_failed"


def test_language_from_accept_language_then_switch_is_remembered(app: Flask) -> None:
    client = app.test_client()
    signup(client, "rui", **{"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"})
    html = client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<html lang="ja">' in html and "演習" in html and "permute(1, 0) で転置する" in html
    token = csrf_of(client, "/")
    client.post("/lang", data={"csrf_token": token, "lang": "en", "next": "/"})
    # The stored locale wins over the browser's header, also in a fresh browser after signing in again.
    html = client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Transpose with permute(1, 0)" in html
    fresh = app.test_client()
    signin(fresh, "rui")
    assert '<html lang="en">' in fresh.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)


def test_anonymous_language_switch_sets_cookie(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client, "/signin")
    client.post("/lang", data={"csrf_token": token, "lang": "ja", "next": "/signin"})
    assert "ログイン" in client.get("/signin").get_data(as_text=True)


def test_progress_page_counts_solved(app: Flask) -> None:
    client = app.test_client()
    signup(client, "sara")
    with app.app_context():
        from service.services.users import get_user

        uid = get_user("sara").id
    add_submission(app, uid, FIRST, passed=True)
    html = client.get("/progress").get_data(as_text=True)
    assert re.search(r"<td>[^<]+</td><td class=\"num\">1/\d+</td>", html)


def test_json_submit_grades_with_the_real_engine_and_updates_state(app: Flask) -> None:
    client = app.test_client()
    signup(client, "tara")
    token = csrf_of(client, f"/exercises/{FIRST}")
    wrong = client.post(f"/exercises/{FIRST}/submit", headers={"X-CSRFToken": token},
                        json={"code": "def solve(x):\n    return x.reshape(3, 2)\n"})
    body = wrong.get_json()
    assert wrong.status_code == 200 and body["result"]["passed"] is False and body["state"] == "tried"
    visible = [c for c in body["result"]["cases"] if c["visible"]][0]
    assert visible["output"]["values"] == [[1, 2], [3, 4], [5, 6]]
    assert visible["expected"]["values"] == [[1, 4], [2, 5], [3, 6]]
    right = client.post(f"/exercises/{FIRST}/submit", headers={"X-CSRFToken": token},
                        json={"code": "def solve(x):\n    return x.permute(1, 0)\n"}).get_json()
    assert right["result"]["passed"] is True and right["state"] == "solved"
    # The history lists both, and reopening the first puts its code and result back on the page.
    history = client.get(f"/exercises/{FIRST}/history").get_data(as_text=True)
    assert f"from={body['id']}" in history and f"from={right['id']}" in history
    data = page_data(client.get(f"/exercises/{FIRST}?from={body['id']}").get_data(as_text=True))
    assert "reshape(3, 2)" in data["code"] and data["result"]["passed"] is False


def test_submit_rejects_a_wrong_kind_of_answer(app: Flask) -> None:
    client = app.test_client()
    signup(client, "uma")
    token = csrf_of(client, "/exercises/permute-shape-quiz")
    response = client.post("/exercises/permute-shape-quiz/submit", headers={"X-CSRFToken": token},
                           json={"answer": None})
    assert response.status_code == 422 and response.get_json()["error"]

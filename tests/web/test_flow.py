"""Issue 13 on the server: landing, favicon, drafts and last verdict, predictions, Next, staff-only notes, names."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from tests.web.conftest import add_submission, csrf_of, make_user, signin, signup
from tests.web.test_learner import page_data

FIRST = "permute-2d"
GPU_NOTE = {"code": "gpu_skipped", "message": "GPU cases: skipped (no GPU on this grader)", "details": {},
            "messages": {"en": "GPU cases: skipped", "ja": "GPU ケース: 省略"}}


def learner(app: Flask, name: str) -> tuple[FlaskClient, int]:
    """A signed-up learner's client and user id."""
    client = app.test_client()
    signup(client, name)
    with app.app_context():
        from service.services.users import get_user

        found = get_user(name)
        assert found is not None
        return client, found.id


def staff_client(app: Flask, name: str) -> FlaskClient:
    make_user(app, name, "instructor")
    client = app.test_client()
    signin(client, name)
    return client


def test_visitors_get_a_landing_page_and_learners_their_list(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'id="demo-data"' in html and "x.permute(1, 0)" in html and 'href="/signup"' in html
    assert "landing.js" in html and "data-exercise=" not in html
    signup(client, "landy")
    html = client.get("/").get_data(as_text=True)
    assert 'data-exercise="permute-2d"' in html and 'id="demo-data"' not in html


def test_favicon_is_served(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response.headers["Location"])
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert 'rel="icon"' in client.get("/signin").get_data(as_text=True)


def test_draft_is_stored_per_learner_and_reopened(app: Flask) -> None:
    client = app.test_client()
    signup(client, "drafty")
    token = csrf_of(client, f"/exercises/{FIRST}")
    url = f"/exercises/{FIRST}/draft"
    assert client.put(url, json={"code": "x = 1"}).status_code == 400  # no CSRF header: refused
    assert client.put(url, json={"code": "x = 1"}, headers={"X-CSRFToken": token}).status_code == 204
    assert client.put(url, json={"code": "x = 2"}, headers={"X-CSRFToken": token}).status_code == 204
    assert page_data(client.get(f"/exercises/{FIRST}").get_data(as_text=True))["code"] == "x = 2"
    bad = client.put(url, json={"code": 5}, headers={"X-CSRFToken": token})
    assert bad.status_code == 422 and bad.get_json()["code"] == "bad_draft"
    huge = client.put(url, json={"code": "#" * 70_000}, headers={"X-CSRFToken": token})
    assert huge.status_code == 422
    assert client.put("/exercises/permute-shape-quiz/draft", json={"code": "x"},
                      headers={"X-CSRFToken": token}).status_code == 400  # quizzes have no code
    other = app.test_client()
    signup(other, "otherdrafty")
    assert page_data(other.get(f"/exercises/{FIRST}").get_data(as_text=True))["code"] is None
    with app.app_context():
        from service.persistence import Draft, db

        assert db.session.query(Draft).count() == 1


def test_last_verdict_reopens_and_gpu_notes_are_for_staff_only(app: Flask) -> None:
    client, uid = learner(app, "verdy")
    result = {"passed": True, "score": 1.0, "cases": [], "stdout": "",
              "diagnoses": [GPU_NOTE]}
    add_submission(app, uid, FIRST, passed=True, code="def solve(x):\n    return x.T\n", result=result)
    data = page_data(client.get(f"/exercises/{FIRST}").get_data(as_text=True))
    assert data["resumed"] is True and data["code"].endswith("return x.T\n")
    assert data["result"]["passed"] is True and data["result"]["diagnoses"] == []  # the GPU note is dropped
    assert data["next"]["url"] == "/exercises/permute-shape-quiz"
    staff = staff_client(app, "staffy")
    sub_id = client.get(f"/exercises/{FIRST}/history").get_data(as_text=True).split("from=")[1].split('"')[0]
    staff_view = staff.get(f"/instructor/submissions/{sub_id}").get_data(as_text=True)
    assert "gpu_skipped" in staff_view


def test_next_exercise_is_the_next_unsolved_in_the_track(app: Flask) -> None:
    client, uid = learner(app, "nexty")
    with app.app_context():
        from service.services import catalog
        from service.services.runtime import runtime
        from service.web.views import next_exercise

        cat = runtime().catalog
        basics = [e.id for e in catalog.exercises(cat) if e.track == "basics"]
        assert next_exercise(cat, uid, basics[0]) == basics[1]
    add_submission(app, uid, basics[1], passed=True)
    with app.app_context():
        assert next_exercise(cat, uid, basics[0]) == basics[2]  # solved ones are skipped
        assert next_exercise(cat, uid, basics[-1]) == basics[0]  # wraps round within the track
    for ex in basics:
        add_submission(app, uid, ex, passed=True)
    with app.app_context():
        later = next_exercise(cat, uid, basics[-1])
        assert later is not None and cat.get(later).track != "basics"  # then the next track


def test_prediction_is_checked_recorded_and_counted(app: Flask) -> None:
    client = app.test_client()
    signup(client, "predy")
    token = csrf_of(client, f"/exercises/{FIRST}")
    assert page_data(client.get(f"/exercises/{FIRST}").get_data(as_text=True))["predictFirst"] is True
    url = f"/exercises/{FIRST}/predict"
    target = client.get(url).get_json()
    # The question gives the input and the marked value, never the answer.
    assert target["marked"] == [0, 1] and target["value"] == 2 and "shape" not in target and "expected" not in target
    wrong = client.post(url, json={"shape": [2, 3], "position": [0, 1]}, headers={"X-CSRFToken": token}).get_json()
    assert wrong["correct"] is False and wrong["shape"] == [3, 2] and wrong["position"] == [1, 0]
    right = client.post(url, json={"shape": [3, 2], "position": [1, 0]}, headers={"X-CSRFToken": token}).get_json()
    assert right["correct"] is True and right["expected"]["values"] == [[1, 4], [2, 5], [3, 6]]
    for bad in ({"shape": "3,2"}, {"shape": [3, -2], "position": [1, 0]}, {"shape": [True], "position": [0]}):
        response = client.post(url, json=bad, headers={"X-CSRFToken": token})
        assert response.status_code == 422, bad
    assert client.get("/exercises/permute-shape-quiz/predict").status_code == 404
    # Recorded in the learner's progress, and no more predict-first once this learner has predicted here.
    assert "✗ not at first" in client.get("/progress").get_data(as_text=True).split('data-prediction="permute-2d"')[1][:80]
    assert page_data(client.get(f"/exercises/{FIRST}").get_data(as_text=True))["predictFirst"] is False
    with app.app_context():
        from service.services import predictions

        acc = predictions.accuracy([FIRST])[FIRST]
        assert (acc.learners, acc.predictions, acc.first_correct) == (1, 2, 0)  # the first one was wrong
    staff = staff_client(app, "predteacher")
    html = staff.get(f"/instructor/exercises/{FIRST}").get_data(as_text=True)
    assert 'id="prediction-rate">0%' in html


def test_history_and_stats_show_names_and_rendered_markdown(app: Flask) -> None:
    client, uid = learner(app, "namey")
    diag = {"code": "reshape_instead_of_permute", "message": "use `permute`", "details": {},
            "messages": {"en": "Values are in reading order: use `permute`", "ja": "`permute` を使いましょう"}}
    add_submission(app, uid, FIRST, passed=False, diagnosis="reshape_instead_of_permute",
                   result={"passed": False, "score": 0.0, "cases": [], "stdout": "", "diagnoses": [diag]})
    html = client.get(f"/exercises/{FIRST}/history").get_data(as_text=True)
    assert "Reshape where a permute was needed" in html and "<code>reshape_instead_of_permute</code>" not in html
    staff = staff_client(app, "mdteacher")
    html = staff.get(f"/instructor/exercises/{FIRST}").get_data(as_text=True)
    assert "use <code>permute</code>" in html and "`permute`" not in html


def test_class_matrix_is_grouped_by_track_and_filters_learners(app: Flask) -> None:
    for name in ("alice", "albert", "bob"):
        make_user(app, name, "learner")
    staff = staff_client(app, "matrixteacher")
    html = staff.get("/instructor/").get_data(as_text=True)
    assert html.count('class="track-head"') >= 5 and 'scope="colgroup"' in html
    assert 'title="permute-2d">Transpose with permute(1, 0)</a>' in html  # headed by titles, not ids
    html = staff.get("/instructor/?learner=AL&track=nd").get_data(as_text=True)
    assert 'data-learner="alice"' in html and 'data-learner="albert"' in html and 'data-learner="bob"' not in html
    assert html.count('class="track-head"') == 1
    csv = staff.get("/instructor/grades.csv?learner=bob").get_data(as_text=True)
    assert "bob" in csv and "alice" not in csv
    assert 'data-learner=' not in staff.get("/instructor/?learner=%25").get_data(as_text=True)  # % is literal


def test_prediction_checks_share_the_submission_rate_limit(tmp_path: Path) -> None:
    app = create_app({"KIWAME_INSTANCE_DIR": str(tmp_path), "TESTING": True, "KIWAME_SECRET_KEY": "t" * 32,
                      "KIWAME_SUBMIT_RATE_LIMIT": "2 per minute"})
    client, _ = learner(app, "spammy")
    token = csrf_of(client, f"/exercises/{FIRST}")
    codes = [client.post(f"/exercises/{FIRST}/predict", json={"shape": [3, 2], "position": [1, 0]},
                         headers={"X-CSRFToken": token}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get(f"/exercises/{FIRST}/predict").status_code == 200  # asking is not limited


def test_class_matrix_filters_by_course(app: Flask) -> None:
    for name in ("kai", "kumi", "lars"):
        make_user(app, name, "learner")
    with app.app_context():
        from service.persistence import Course, Enrolment, LtiPlatform, ResourceLink, db
        from service.services.users import get_user

        lms = LtiPlatform(issuer="https://lms.example", client_id="k", auth_url="https://lms.example/auth",
                          token_url="https://lms.example/token", jwks_url="https://lms.example/jwks")
        course = Course(issuer="https://lms.example", context_id="c1", title="Tensors 101")
        db.session.add_all([lms, course])
        db.session.flush()
        for name in ("kai", "lars"):
            db.session.add(Enrolment(course_id=course.id, user_id=get_user(name).id, role="learner"))
        db.session.add(ResourceLink(course_id=course.id, platform_id=lms.id, link_id="l1", exercise_id=FIRST))
        db.session.commit()
        course_id = course.id
    staff = staff_client(app, "courseteacher")
    html = staff.get("/instructor/").get_data(as_text=True)
    assert f'<option value="{course_id}" >Tensors 101</option>' in html.replace("  ", " ")
    html = staff.get(f"/instructor/?course={course_id}").get_data(as_text=True)
    rows = [n for n in ("kai", "kumi", "lars") if f'data-learner="{n}"' in html]
    assert rows == ["kai", "lars"] and html.count('class="num ex-head') == 1  # the course's one exercise
    html = staff.get(f"/instructor/?course={course_id}&learner=la").get_data(as_text=True)
    assert 'data-learner="lars"' in html and 'data-learner="kai"' not in html
    assert staff.get("/instructor/?course=99999").status_code == 404

"""The issue's LMS flow through the test client (both databases): register, deep-link two exercises, a
learner launches one, fails then passes, the platform receives exactly the improving scores, roster sync."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from lti_sim import USERS
from lti_support import FIRST, RIGHT, SECOND, TOOL, WRONG, Driver, deep_link, submit, wait_until

from service.persistence import Course, Enrolment, LtiScoreDelivery, LtiUser, User, db


def test_lms_flow_deep_link_launch_grade_passback_and_roster(driver: Driver) -> None:
    p = driver.p
    deep_link(driver, [FIRST, SECOND])
    assert [(lk.custom["exercise_id"], lk.title) for lk in p.links][0][0] == FIRST
    assert [lk.custom["exercise_id"] for lk in p.links] == [FIRST, SECOND]

    started = time.perf_counter()
    resp = driver.launch_as("learner", "link-1")
    assert resp.status_code == 302 and f"/exercises/{FIRST}" in resp.location
    page = driver.client.get(resp.location)
    assert page.status_code == 200
    assert f"frame-ancestors {p.base}" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers

    first = submit(driver, FIRST, WRONG)
    assert first["status"] == "graded" and first["result"]["passed"] is False
    wait_until(lambda: len(p.scores) == 1)
    second = submit(driver, FIRST, RIGHT)
    assert second["result"]["passed"] is True
    wait_until(lambda: len(p.scores) == 2)
    elapsed = time.perf_counter() - started
    time.sleep(0.5)  # nothing more may arrive
    learner = USERS["learner"]["sub"]
    assert [(s["userId"], s["scoreGiven"], s["scoreMaximum"]) for s in p.scores] == [
        (learner, first["result"]["score"], 1), (learner, 1.0, 1)]
    assert first["result"]["score"] < 1.0
    assert all(s["activityProgress"] == "Completed" and s["gradingProgress"] == "FullyGraded" for s in p.scores)
    assert p.scores[0]["timestamp"] < p.scores[1]["timestamp"] and "." in p.scores[0]["timestamp"]
    assert p.scores[0]["lineitem"] == "1"
    print(f"launch -> two graded submissions -> two scores at the platform: {elapsed:.2f} s")

    # A resubmission that does not improve the best score posts nothing.
    submit(driver, FIRST, WRONG)
    time.sleep(0.8)
    assert len(p.scores) == 2

    # The instructor syncs the roster: every member of both pages is listed, including who never launched.
    resp = driver.launch_as("teacher", "link-1")
    with driver.app.app_context():
        course_id = db.session.scalar(sa.select(Course.id))
    course_page = f"/lti/courses/{course_id}"
    assert resp.status_code == 302 and resp.location.endswith(course_page)
    token = driver.csrf(course_page)
    assert driver.client.post(f"{course_page}/roster", data={"csrf_token": token}).status_code == 302
    assert p.membership_pages == ["1", "2"]
    html = driver.client.get(course_page).get_data(as_text=True)
    for name in ("Lee Learner", "Ola Other", "Nia Notyet"):
        assert name in html
    assert "Tess Teacher" not in html.split("Grade passback")[0]  # instructors are not in the learner grid
    with driver.app.app_context():
        roles = dict(db.session.execute(sa.select(User.display_name, Enrolment.role)
                                        .join(Enrolment, Enrolment.user_id == User.id)).all())
        assert roles["Tess Teacher"] == "instructor" and roles["Nia Notyet"] == "learner"
        assert db.session.scalar(sa.select(sa.func.count(LtiUser.id))) == 4
        statuses = db.session.scalars(sa.select(LtiScoreDelivery.status)).all()
        assert sorted(statuses) == ["delivered", "delivered"]

    # Filtered by course: the instructor's CSV, and a learner's progress page.
    csv = driver.client.get(f"{course_page}/grades.csv")
    lines = csv.get_data(as_text=True).splitlines()
    assert csv.status_code == 200 and lines[0].endswith(f"total_score,{FIRST}") and len(lines) == 1 + 3
    assert any(line.endswith(",1,1.00,1.00") for line in lines[1:])
    learner = Driver(driver.app, driver.sim)
    assert learner.launch_as("learner", "link-1").status_code == 302
    progress = learner.client.get(f"/progress?course={course_id}").get_data(as_text=True)
    assert f"/exercises/{FIRST}" in progress and f"/exercises/{SECOND}" not in progress
    assert f"/exercises/{SECOND}" in learner.client.get("/progress").get_data(as_text=True)
    assert learner.client.get(f"{course_page}/grades.csv").status_code == 403
    assert learner.client.get(f"/progress?course={course_id + 1}").status_code == 404


def test_learner_cannot_open_course_page_or_picker(driver: Driver) -> None:
    deep_link(driver, [FIRST])
    fresh = Driver(driver.app, driver.sim)
    assert fresh.launch_as("learner", "link-1").status_code == 302
    with driver.app.app_context():
        course_id = db.session.scalar(sa.select(Course.id))
    assert fresh.client.get(f"/lti/courses/{course_id}").status_code == 403
    assert fresh.client.get("/lti/deep-link").status_code == 403


def test_config_and_jwks(driver: Driver) -> None:
    config = driver.client.get("/lti/config").get_json()
    assert config["oidc_initiation_url"] == f"{TOOL}/lti/login"
    assert config["target_link_uri"] == f"{TOOL}/lti/launch"
    assert config["jwks_uri"] == f"{TOOL}/.well-known/jwks.json"
    assert config["deep_linking_url"] == f"{TOOL}/lti/launch"
    keys = driver.client.get("/.well-known/jwks.json").get_json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and "d" not in keys[0]
    assert len(keys[0]["n"]) >= 342  # base64url of a 2048-bit modulus


def test_admin_page_lists_registrations_last_launch_passback_and_errors(driver: Driver, make_user: Any) -> None:
    deep_link(driver, [FIRST])
    assert driver.launch_as("learner", "link-1").status_code == 302
    submit(driver, FIRST, RIGHT)
    wait_until(lambda: len(driver.p.scores) == 1)
    state, nonce = driver.login()  # a refused launch leaves its reason for the admin
    bad = driver.p.claims("learner", "LtiResourceLinkRequest", nonce, driver.p.links[0], aud="someone-else")
    assert driver.launch(state, driver.p.sign(bad)).status_code == 400

    make_user("root", "admin", "admin-pass-123")
    admin = Driver(driver.app, driver.sim)
    token = admin.csrf("/signin")
    admin.client.post("/signin", data={"csrf_token": token, "username": "root", "password": "admin-pass-123"})
    html = admin.client.get("/lti/admin").get_data(as_text=True)
    assert driver.p.issuer in html and "kiwame-client" in html and "dep-1" in html
    assert "never" not in html.split("<tbody>")[1].split("</tbody>")[0]  # a last launch is shown
    assert "delivered: 1" in html and "bad_audience" in html
    assert driver.client.get("/lti/admin").status_code == 403  # the learner's session

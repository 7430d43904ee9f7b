"""Passback under stress: a platform outage with a restart in the middle, and key rotation on both sides."""

from __future__ import annotations

import time

import sqlalchemy as sa
from click.testing import CliRunner
from lti_sim import USERS
from lti_support import FIRST, LTI_CONFIG, RIGHT, WRONG, Driver, deep_link, submit, wait_until

from service.cli import main as cli
from service.persistence import LtiScoreDelivery, db
from service.services import outbox
from service.services.runtime import runtime

OUTAGE_S = 6.0  # at least this many real seconds of 500s, with retries (LTI_CONFIG backoff) and a restart inside


def deliveries(driver: Driver) -> list[tuple[float, str, int, int | None]]:
    with driver.app.app_context():
        db.session.expire_all()
        return [(d.score_given, d.status, d.attempts, d.last_status_code) for d in db.session.scalars(
            sa.select(LtiScoreDelivery).order_by(LtiScoreDelivery.id))]


def test_scores_survive_a_platform_outage_and_a_restart(driver: Driver, make_app: object) -> None:
    p = driver.p
    deep_link(driver, [FIRST])
    assert driver.launch_as("learner", "link-1").status_code == 302
    p.fail_scores_until = float("inf")  # the platform answers 500 until we say otherwise
    outage_began = time.monotonic()
    submit(driver, FIRST, RIGHT)
    wait_until(lambda: deliveries(driver)[0][2] >= 2, timeout=60)
    (score, status, attempts, code), = deliveries(driver)
    assert (score, status, code) == (1.0, "pending", 500) and attempts >= 2  # visible to instructors as pending
    assert p.scores == []

    # The process goes away mid-outage (its timers die with it); a new one starts and resumes the outbox.
    runtime(driver.app).close()
    restarted = make_app(**LTI_CONFIG)  # type: ignore[operator]
    with restarted.app_context():
        assert outbox.resume(runtime(restarted).outbox) == 1
    wait_until(lambda: deliveries(driver)[0][2] >= 4 and time.monotonic() - outage_began >= OUTAGE_S, timeout=60)
    assert p.scores == []
    p.fail_scores_until = 0.0  # the platform recovers
    wait_until(lambda: len(p.scores) == 1, timeout=30)
    time.sleep(1.5)
    assert [(s["userId"], s["scoreGiven"]) for s in p.scores] == [(USERS["learner"]["sub"], 1.0)]
    (score, status, attempts, code), = deliveries(driver)
    assert status == "delivered" and attempts == p.failed_score_posts + 1


def test_a_refused_score_is_failed_with_the_platforms_answer(driver: Driver) -> None:
    deep_link(driver, [FIRST])
    driver.p.links[0].lineitem = driver.p.links[0].lineitem.replace("/lineitems/", "/missing/")
    assert driver.launch_as("learner", "link-1").status_code == 302
    submit(driver, FIRST, WRONG)
    wait_until(lambda: deliveries(driver) and deliveries(driver)[0][1] == "failed")
    (_, status, attempts, code), = deliveries(driver)
    assert (status, attempts, code) == ("failed", 1, 404)


def test_key_rotation_keeps_launches_and_passback_working(driver: Driver, migrated: str, instance_dir: object) -> None:
    p = driver.p
    env = {"KIWAME_DATABASE_URL": migrated, "KIWAME_INSTANCE_DIR": str(instance_dir), "KIWAME_AUTO_MIGRATE": "0"}
    deep_link(driver, [FIRST])
    old_kid = driver.client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]

    # The tool rotates: the new key signs, the old one stays published.
    rotated = CliRunner().invoke(cli, ["lti", "rotate-key"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new_kid = rotated.output.strip()
    assert [k["kid"] for k in driver.client.get("/.well-known/jwks.json").get_json()["keys"]] == [new_kid, old_kid]
    # The platform rotates too: the next launch carries a kid the tool has not cached.
    p.rotate()
    fetches = p.jwks_fetches
    assert driver.launch_as("learner", "link-1").status_code == 302
    assert p.jwks_fetches == fetches + 1
    submit(driver, FIRST, RIGHT)
    wait_until(lambda: len(p.scores) == 1)
    assert p.token_requests[-1]["kid"] == new_kid  # the client_assertion was signed with the new key
    # Once platforms have the new key, the old one can go.
    removed = CliRunner().invoke(cli, ["lti", "remove-key", old_kid], env=env)
    assert removed.exit_code == 0, removed.output
    assert [k["kid"] for k in driver.client.get("/.well-known/jwks.json").get_json()["keys"]] == [new_kid]


def test_cli_lists_and_removes_registrations(driver: Driver, migrated: str, instance_dir: object) -> None:
    env = {"KIWAME_DATABASE_URL": migrated, "KIWAME_INSTANCE_DIR": str(instance_dir), "KIWAME_AUTO_MIGRATE": "0"}
    listed = CliRunner().invoke(cli, ["lti", "list"], env=env)
    assert listed.exit_code == 0 and driver.p.issuer in listed.output and "last launch never" in listed.output
    assert "warning: KIWAME_PUBLIC_URL is not an https:// URL" in listed.output  # this test tool runs on http
    reg_id = listed.output.split("\t")[0]
    dup = CliRunner().invoke(cli, ["lti", "add-platform", "--issuer", driver.p.issuer, "--client-id", "kiwame-client",
                                   "--deployment-id", "d", "--auth-url", "http://x/a", "--token-url", "http://x/t",
                                   "--jwks-url", "http://x/j"], env=env)
    assert dup.exit_code != 0 and "already registered" in dup.output
    dashed = CliRunner().invoke(cli, ["lti", "remove-key", "-Hx9"], env=env)  # kids may start with "-"
    assert dashed.exit_code != 0 and "no tool key '-Hx9'" in dashed.output
    assert CliRunner().invoke(cli, ["lti", "remove", reg_id], env=env).exit_code == 0
    assert driver.p.issuer not in CliRunner().invoke(cli, ["lti", "list"], env=env).output

"""Every known-bad login and launch, the way an attacker sends it: each is refused with a 4xx page that names
the check, and none creates a session, a user or an enrolment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lti_sim import CLAIM, CLIENT_ID, Link, new_key, pem
from lti_support import TOOL, Driver

from service.persistence import LtiUser, WebSession, db


@pytest.fixture
def attacker(driver: Driver) -> Driver:
    driver.p.links.append(Link("link-1", "Permute", {"exercise_id": "permute-2d"}, f"{driver.p.base}/lineitems/1"))
    return driver


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(d: Driver, nonce: str, **extra: Any) -> dict[str, Any]:
    return d.p.claims("learner", "LtiResourceLinkRequest", nonce, d.p.links[0], **extra)


def assert_refused(d: Driver, resp: Any, code: str, status: int | None = None) -> None:
    body = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (resp.status_code, body[:300])
    if status is not None:
        assert resp.status_code == status
    assert f'data-code="{code}"' in body, body[:500]
    cookies = resp.headers.getlist("Set-Cookie")
    assert not any(c.startswith("kiwame_session=") for c in cookies), cookies
    with d.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebSession)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LtiUser)) == 0


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def test_good_launch_works_so_the_refusals_below_mean_something(attacker: Driver) -> None:
    state, nonce = attacker.login()
    resp = attacker.launch(state, attacker.p.sign(claims(attacker, nonce)))
    assert resp.status_code == 302 and "/exercises/permute-2d" in resp.location


def test_replayed_nonce_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    token = attacker.p.sign(claims(attacker, nonce))
    assert attacker.launch(state, token).status_code == 302
    replay = Driver(attacker.app, attacker.sim)  # the captured POST, from a browser holding the same cookie
    replay.client.set_cookie("kiwame_lti_state", state, path="/lti/")
    resp = replay.launch(state, token)
    assert resp.status_code == 400 and 'data-code="nonce_replayed"' in resp.get_data(as_text=True)
    assert not any(c.startswith("kiwame_session=") for c in resp.headers.getlist("Set-Cookie"))


def test_nonce_of_another_login_is_refused(attacker: Driver) -> None:
    _, nonce = attacker.login()
    state, _ = attacker.login()
    assert_refused(attacker, attacker.launch(state, attacker.p.sign(claims(attacker, nonce))), "nonce_mismatch")


def test_missing_state_is_refused(attacker: Driver) -> None:
    _, nonce = attacker.login()
    assert_refused(attacker, attacker.launch(None, attacker.p.sign(claims(attacker, nonce))), "state_missing")


def test_state_not_matching_the_browser_cookie_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    other_state, _ = Driver(attacker.app, attacker.sim).login()  # the attacker's own login, in another browser
    del state
    assert_refused(attacker, attacker.launch(other_state, attacker.p.sign(claims(attacker, nonce))), "state_mismatch")


def test_aud_not_our_client_id_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    token = attacker.p.sign(claims(attacker, nonce, aud="someone-else", azp="someone-else"))
    assert_refused(attacker, attacker.launch(state, token), "bad_audience")


def test_several_aud_without_matching_azp_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    body = without(claims(attacker, nonce, aud=["other-tool", CLIENT_ID]), "azp")
    assert_refused(attacker, attacker.launch(state, attacker.p.sign(body)), "azp_mismatch")
    state, nonce = attacker.login()
    body = claims(attacker, nonce, aud=["other-tool", CLIENT_ID], azp="other-tool")
    assert_refused(attacker, attacker.launch(state, attacker.p.sign(body)), "azp_mismatch")


def test_alg_none_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'sim-1'})}.{b64(claims(attacker, nonce))}."
    assert_refused(attacker, attacker.launch(state, token), "bad_algorithm")


def test_hs256_signed_with_the_platforms_public_key_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    public_pem = attacker.p.keys[0][0].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'sim-1'})}.{b64(claims(attacker, nonce))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(attacker, attacker.launch(state, f"{signing_input}.{b64(mac)}"), "bad_algorithm")


def test_kid_not_in_jwks_after_exactly_one_refetch_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    assert attacker.launch(state, attacker.p.sign(claims(attacker, nonce))).status_code == 302  # caches the JWKS
    fetches = attacker.p.jwks_fetches
    fresh = Driver(attacker.app, attacker.sim)
    with attacker.app.app_context():
        db.session.execute(sa.delete(LtiUser))
        db.session.execute(sa.delete(WebSession))
        db.session.commit()
    state, nonce = fresh.login()
    resp = fresh.launch(state, attacker.p.sign(claims(fresh, nonce), kid="not-a-platform-kid"))
    assert_refused(fresh, resp, "unknown_kid")
    assert attacker.p.jwks_fetches == fetches + 1


def test_expired_token_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    now = int(time.time())
    token = attacker.p.sign(claims(attacker, nonce, iat=now - 900, exp=now - 120))
    assert_refused(attacker, attacker.launch(state, token), "token_expired")


def test_token_issued_in_the_future_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    now = int(time.time())
    token = attacker.p.sign(claims(attacker, nonce, iat=now + 600, exp=now + 900))
    assert_refused(attacker, attacker.launch(state, token), "token_from_future")


def test_unknown_issuer_is_refused_at_login_and_at_launch(attacker: Driver) -> None:
    resp = attacker.client.get("/lti/login", query_string={
        "iss": "https://evil.example", "login_hint": "x", "target_link_uri": f"{TOOL}/lti/launch"})
    assert_refused(attacker, resp, "unknown_issuer", 403)
    state, nonce = attacker.login()
    token = attacker.p.sign(claims(attacker, nonce, iss="https://evil.example"))
    assert_refused(attacker, attacker.launch(state, token), "unknown_issuer", 403)


def test_unknown_deployment_is_refused_at_login_and_at_launch(attacker: Driver) -> None:
    resp = attacker.client.get("/lti/login", query_string={
        "iss": attacker.p.issuer, "login_hint": "x", "target_link_uri": f"{TOOL}/lti/launch",
        "lti_deployment_id": "dep-unknown"})
    assert_refused(attacker, resp, "unknown_deployment", 403)
    state, nonce = attacker.login()
    token = attacker.p.sign(claims(attacker, nonce, **{CLAIM + "deployment_id": "dep-unknown"}))
    assert_refused(attacker, attacker.launch(state, token), "unknown_deployment", 403)


@pytest.mark.parametrize(("change", "code"), [
    ({CLAIM + "version": "1.1"}, "bad_version"),
    ({CLAIM + "message_type": "LtiStartProctoring"}, "bad_message_type"),
])
def test_wrong_version_or_message_type_is_refused(attacker: Driver, change: dict[str, Any], code: str) -> None:
    state, nonce = attacker.login()
    assert_refused(attacker, attacker.launch(state, attacker.p.sign(claims(attacker, nonce, **change))), code)


@pytest.mark.parametrize(("claim", "code"), [
    ("sub", "sub_missing"), (CLAIM + "roles", "roles_missing"), (CLAIM + "resource_link", "resource_link_missing"),
])
def test_resource_link_launch_missing_a_required_claim_is_refused(attacker: Driver, claim: str, code: str) -> None:
    state, nonce = attacker.login()
    assert_refused(attacker, attacker.launch(state, attacker.p.sign(without(claims(attacker, nonce), claim))), code)


def test_token_signed_by_another_key_is_refused(attacker: Driver) -> None:
    state, nonce = attacker.login()
    forged, _ = new_key("sim-1")  # the attacker's key, claiming the platform's kid
    token = attacker.p.sign(claims(attacker, nonce), key=pem(forged), kid="sim-1")
    assert_refused(attacker, attacker.launch(state, token), "bad_signature")


def test_target_link_uri_not_ours_is_refused_no_open_redirect(attacker: Driver) -> None:
    resp = attacker.client.get("/lti/login", query_string={
        "iss": attacker.p.issuer, "login_hint": "learner", "target_link_uri": "https://evil.example/phish",
        "client_id": CLIENT_ID})
    assert_refused(attacker, resp, "foreign_target_link_uri")
    assert "evil.example" not in (resp.headers.get("Location") or "")
    state, nonce = attacker.login()
    token = attacker.p.sign(claims(attacker, nonce, **{CLAIM + "target_link_uri": "https://evil.example/x"}))
    assert_refused(attacker, attacker.launch(state, token), "foreign_target_link_uri")


def test_missing_state_cookie_offers_a_new_window_and_creates_no_session(attacker: Driver) -> None:
    state, nonce = attacker.login()
    blocked = Driver(attacker.app, attacker.sim)  # a frame whose browser dropped the third-party cookie
    resp = blocked.launch(state, attacker.p.sign(claims(attacker, nonce)))
    body = resp.get_data(as_text=True)
    assert resp.status_code == 401 and 'id="lti-new-window"' in body and 'target="_blank"' in body
    assert "kiwame_new_window=1" in body and "login_hint=learner" in body
    assert not any(c.startswith("kiwame_session=") for c in resp.headers.getlist("Set-Cookie"))
    # ... and the new window (first-party cookies) continues: login again, launch, signed in.
    again = Driver(attacker.app, attacker.sim)
    state2, nonce2 = again.login()
    assert again.launch(state2, attacker.p.sign(claims(again, nonce2))).status_code == 302


def test_outbound_calls_go_only_to_registered_origins(attacker: Driver) -> None:
    from service.services.lti_http import BlockedURL, GuardedSession

    guarded = GuardedSession([attacker.p.base], timeout=2)
    with pytest.raises(BlockedURL):
        guarded.get("http://169.254.169.254/latest/meta-data")
    assert guarded.get(f"{attacker.p.base}/jwks").status_code == 200

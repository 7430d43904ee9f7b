"""LTI test support (fixtures re-exported by tests/lti/conftest.py): the platform simulator, a tool app wired to it, the CLI registration, and a login driver."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from lti_sim import CLIENT_ID, DEPLOYMENT, SimServer

from service.cli import main as cli

TOOL = "http://localhost"  # the Flask test client's host
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture
def sim() -> Iterator[SimServer]:
    server = SimServer()
    yield server
    server.close()


def register(sim: SimServer, database_url: str, instance: str, *extra: str) -> str:
    """The admin's command, exactly as the README gives it."""
    urls = sim.platform.urls()
    result = CliRunner().invoke(cli, [
        "lti", "add-platform", "--issuer", urls["issuer"], "--client-id", CLIENT_ID, "--deployment-id", DEPLOYMENT,
        "--auth-url", urls["auth_url"], "--token-url", urls["token_url"], "--jwks-url", urls["jwks_url"], *extra,
    ], env={"KIWAME_DATABASE_URL": database_url, "KIWAME_INSTANCE_DIR": instance, "KIWAME_AUTO_MIGRATE": "0"})
    assert result.exit_code == 0, result.output
    return result.output.strip()


LTI_CONFIG = {"KIWAME_LTI_BACKOFF_S": "0.2", "KIWAME_LTI_BACKOFF_MAX_S": "1", "KIWAME_LTI_HTTP_TIMEOUT_S": "5"}


@pytest.fixture
def tool(make_app: Callable[..., Flask], sim: SimServer, migrated: str, instance_dir: Any) -> Flask:
    """A tool app on the session database, registered with the simulator through the CLI."""
    app = make_app(**LTI_CONFIG)
    sim.platform.tool_base = TOOL
    sim.platform.tool_jwks = lambda: app.test_client().get("/.well-known/jwks.json").get_json()
    register(sim, migrated, str(instance_dir))
    return app


class Driver:
    """Plays the LMS + browser against the tool's test client."""

    def __init__(self, app: Flask, sim: SimServer) -> None:
        self.app, self.sim, self.p = app, sim, sim.platform
        self.client: FlaskClient = app.test_client()

    def login(self, who: str = "learner", hint: str = "link-1", **params: str) -> tuple[str, str]:
        query = {"iss": self.p.issuer, "login_hint": who, "lti_message_hint": hint, "client_id": CLIENT_ID,
                 "target_link_uri": f"{TOOL}/lti/launch", "lti_deployment_id": DEPLOYMENT, **params}
        resp = self.client.get("/lti/login", query_string=query)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        auth = parse_qs(urlsplit(resp.location).query)
        return auth["state"][0], auth["nonce"][0]

    def launch(self, state: str | None, token: str) -> Any:
        data = {"id_token": token} | ({"state": state} if state is not None else {})
        return self.client.post("/lti/launch", data=data)

    def launch_as(self, who: str, hint: str) -> Any:
        state, nonce = self.login(who, hint)
        if hint == "deep-link":
            claims = self.p.claims(who, "LtiDeepLinkingRequest", nonce)
        else:
            link = next(lk for lk in self.p.links if lk.id == hint)
            claims = self.p.claims(who, "LtiResourceLinkRequest", nonce, link)
        return self.launch(state, self.p.sign(claims))

    def csrf(self, path: str) -> str:
        match = CSRF_RE.search(self.client.get(path).get_data(as_text=True))
        assert match, path
        return match.group(1)


@pytest.fixture
def driver(tool: Flask, sim: SimServer) -> Driver:
    return Driver(tool, sim)


def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


FIRST, SECOND = "permute-2d", "permute-3d"
WRONG = "import torch\n\n\ndef solve(x):\n    return x.reshape(3, 2)\n"
RIGHT = "import torch\n\n\ndef solve(x):\n    return x.permute(1, 0)\n"
FORM_RE = re.compile(r'<form id="lti-deep-link-return" action="([^"]+)" method="post">\s*'
                     r'<input type="hidden" name="JWT" value="([^"]+)">')


def deep_link(driver: Driver, exercises: list[str]) -> None:
    resp = driver.launch_as("teacher", "deep-link")
    assert resp.status_code == 302 and resp.location.endswith("/lti/deep-link")
    page = driver.client.get("/lti/deep-link")
    assert page.status_code == 200 and all(f'value="{e}"' in page.get_data(as_text=True) for e in exercises)
    token = driver.csrf("/lti/deep-link")
    returned = driver.client.post("/lti/deep-link", data={"csrf_token": token, "exercise": exercises})
    assert returned.status_code == 200
    assert f"form-action {driver.p.base}" in returned.headers["Content-Security-Policy"]
    action, jwt_value = FORM_RE.search(returned.get_data(as_text=True)).groups()
    assert action == f"{driver.p.base}/deeplink/return"
    # The browser's auto-submit, done here by hand: the simulator verifies the JWT against our JWKS.
    answer = requests.post(action, data={"JWT": jwt_value}, timeout=10)
    assert answer.status_code == 200, answer.text


def submit(driver: Driver, exercise: str, code: str) -> dict[str, Any]:
    token = driver.csrf(f"/exercises/{exercise}")
    resp = driver.client.post(f"/exercises/{exercise}/submit", json={"code": code}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()

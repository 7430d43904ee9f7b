"""LTI fixtures: the platform simulator, a tool app wired to it, the CLI registration, and a login driver."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from platform_sim import CLIENT_ID, DEPLOYMENT, SimServer

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

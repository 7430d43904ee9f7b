"""An LTI 1.3 platform simulator on 127.0.0.1: keys + JWKS, OIDC auth, token endpoint checking the tool's
client_assertion, line items and scores, paginated memberships, deep-link return, and an LMS course page."""

from __future__ import annotations

import html
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, abort, jsonify, request
from werkzeug.serving import make_server

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
CLIENT_ID = "kiwame-client"
DEPLOYMENT = "dep-1"
INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
LEARNER = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
USERS = {
    "teacher": {"sub": "sim-teacher-1", "name": "Tess Teacher", "email": "tess@lms.test", "roles": INSTRUCTOR},
    "learner": {"sub": "sim-learner-7", "name": "Lee Learner", "email": "lee@lms.test", "roles": LEARNER},
    "other": {"sub": "sim-learner-8", "name": "Ola Other", "email": "ola@lms.test", "roles": LEARNER},
}
ROSTER = [USERS["teacher"], USERS["learner"], USERS["other"],
          {"sub": "sim-learner-9", "name": "Nia Notyet", "email": "nia@lms.test", "roles": LEARNER}]
AGS_SCOPES = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
              "https://purl.imsglobal.org/spec/lti-ags/scope/score"]


def new_key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update(kid=kid, alg="RS256", use="sig")
    return private, jwk


def pem(private: Any) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@dataclass
class Link:
    id: str
    title: str
    custom: dict[str, str]
    lineitem: str


@dataclass
class Platform:
    """State of the simulated LMS; every request it receives is recorded for the tests."""

    tool_jwks: Callable[[], dict[str, Any]] = lambda: {"keys": []}
    tool_base: str = ""
    base: str = ""
    keys: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    membership_pages: list[str] = field(default_factory=list)
    jwks_fetches: int = 0
    fail_scores_until: float = 0.0  # an outage: /scores answers 500 until this time.monotonic()
    failed_score_posts: int = 0
    tokens: dict[str, float] = field(default_factory=dict)
    jtis: set[str] = field(default_factory=set)
    last_timestamp: dict[tuple[str, str], str] = field(default_factory=dict)
    deep_link_data: str = "opaque-dl-data-42"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.keys.append(new_key("sim-1"))

    # --- URLs the admin registers ---
    @property
    def issuer(self) -> str:
        return self.base

    def urls(self) -> dict[str, str]:
        return {"issuer": self.base, "auth_url": f"{self.base}/auth", "token_url": f"{self.base}/token",
                "jwks_url": f"{self.base}/jwks"}

    def rotate(self) -> str:
        kid = f"sim-{len(self.keys) + 1}"
        self.keys.append(new_key(kid))
        return kid

    # --- id_tokens ---
    def claims(self, who: str, message: str, nonce: str, link: Link | None = None, **extra: Any) -> dict[str, Any]:
        user = USERS[who]
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": user["sub"], "exp": now + 300,
            "iat": now, "nonce": nonce, "name": user["name"], "email": user["email"],
            CLAIM + "message_type": message, CLAIM + "version": "1.3.0", CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "roles": user["roles"], CLAIM + "target_link_uri": f"{self.tool_base}/lti/launch",
            CLAIM + "context": {"id": "course-101", "label": "T101", "title": "Tensors 101"},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": f"{self.base}/memberships", "service_versions": ["2.0"]},
        }
        if message == "LtiDeepLinkingRequest":
            body["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": f"{self.base}/deeplink/return", "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"], "accept_multiple": True,
                "data": self.deep_link_data}
        elif link is not None:
            body[CLAIM + "resource_link"] = {"id": link.id, "title": link.title}
            body[CLAIM + "custom"] = dict(link.custom)
            body["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = {
                "scope": AGS_SCOPES, "lineitems": f"{self.base}/lineitems", "lineitem": link.lineitem}
        body.update(extra)
        return body

    def sign(self, claims: dict[str, Any], key: Any = None, kid: str | None = None, alg: str = "RS256") -> str:
        private, jwk = self.keys[-1]
        return jwt.encode(claims, key if key is not None else pem(private), algorithm=alg,
                          headers={"kid": kid or jwk["kid"]})

    # --- verifying what the tool sends ---
    def verify_tool_jwt(self, token: str, audience: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256", header
        entry = next(k for k in self.tool_jwks()["keys"] if k["kid"] == header["kid"])
        return jwt.decode(token, jwt.PyJWK(entry).key, algorithms=["RS256"], audience=audience)

    def launch_page(self, who: str, link_or_dl: str, target: str = "") -> str:
        """The LMS course page: a launch in an iframe, as Moodle and Canvas do it."""
        params = {"iss": self.issuer, "login_hint": who, "lti_message_hint": link_or_dl,
                  "target_link_uri": target or f"{self.tool_base}/lti/launch", "client_id": CLIENT_ID,
                  "lti_deployment_id": DEPLOYMENT}
        src = html.escape(f"{self.tool_base}/lti/login?{urlencode(params)}")
        return (f"<!doctype html><title>LMS course</title><h1>Tensors 101</h1>"
                f"<iframe id='tool' src='{src}' width='1200' height='850'></iframe>")


def create_sim_app(p: Platform) -> Flask:
    app = Flask("lti_platform_sim")

    @app.get("/jwks")
    def jwks() -> Any:
        with p.lock:
            p.jwks_fetches += 1
        return jsonify({"keys": [jwk for _, jwk in p.keys]})

    @app.get("/course/<who>/<target>")
    def course(who: str, target: str) -> Any:
        return p.launch_page(who, target)

    @app.get("/auth")
    def auth() -> Any:
        q = request.args
        expected = {"scope", "response_type", "response_mode", "prompt", "client_id", "redirect_uri", "state",
                    "nonce", "login_hint", "lti_message_hint"}
        if set(q) != expected or q["scope"] != "openid" or q["response_type"] != "id_token" \
                or q["response_mode"] != "form_post" or q["prompt"] != "none" or q["client_id"] != CLIENT_ID \
                or q["redirect_uri"] != f"{p.tool_base}/lti/launch":
            abort(400, f"bad auth request {dict(q)}")
        who, hint = q["login_hint"], q["lti_message_hint"]
        if hint == "deep-link":
            claims = p.claims(who, "LtiDeepLinkingRequest", q["nonce"])
        else:
            link = next(lk for lk in p.links if lk.id == hint)
            claims = p.claims(who, "LtiResourceLinkRequest", q["nonce"], link)
        token = p.sign(claims)
        return (f"<!doctype html><form id='f' method='post' action='{html.escape(q['redirect_uri'])}'>"
                f"<input type='hidden' name='id_token' value='{token}'>"
                f"<input type='hidden' name='state' value='{html.escape(q['state'])}'></form>"
                "<script>document.getElementById('f').submit()</script>")

    @app.post("/token")
    def token() -> Any:
        f = request.form
        if f.get("grant_type") != "client_credentials" or \
                f.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return jsonify({"error": "unsupported_grant_type"}), 400
        try:
            claims = p.verify_tool_jwt(f["client_assertion"], f"{p.base}/token")
        except Exception as exc:
            return jsonify({"error": "invalid_client", "detail": str(exc)}), 401
        if claims["iss"] != CLIENT_ID or claims["sub"] != CLIENT_ID or claims["jti"] in p.jtis:
            return jsonify({"error": "invalid_client"}), 401
        with p.lock:
            p.jtis.add(claims["jti"])
            access = uuid.uuid4().hex
            p.tokens[access] = time.time() + 3600
            p.token_requests.append({"scope": f.get("scope", ""), "kid": jwt.get_unverified_header(
                f["client_assertion"])["kid"]})
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                        "scope": f.get("scope", "")})

    def bearer() -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or p.tokens.get(header[7:], 0) < time.time():
            abort(401)

    @app.post("/lineitems/<item>/scores")
    def scores(item: str) -> Any:
        bearer()
        if time.monotonic() < p.fail_scores_until:
            with p.lock:
                p.failed_score_posts += 1
            return "platform down", 500
        if request.mimetype != "application/vnd.ims.lis.v1.score+json":
            return "wrong content type", 415
        body = request.get_json(force=True)
        if "scoreGiven" in body and "scoreMaximum" not in body:
            return "scoreMaximum required", 400
        key = (item, body["userId"])
        with p.lock:
            if key in p.last_timestamp and body["timestamp"] <= p.last_timestamp[key]:
                return "timestamp must increase", 409
            p.last_timestamp[key] = body["timestamp"]
            p.scores.append({"lineitem": item, **body})
        return "", 204

    @app.get("/memberships")
    def memberships() -> Any:
        bearer()
        page = int(request.args.get("page", "1"))
        with p.lock:
            p.membership_pages.append(str(page))
        members = [{"user_id": u["sub"], "name": u["name"], "email": u["email"], "roles": u["roles"],
                    "status": "Active"} for u in ROSTER]
        chunk = members[:2] if page == 1 else members[2:]
        resp = jsonify({"id": f"{p.base}/memberships", "context": {"id": "course-101"}, "members": chunk})
        if page == 1:
            resp.headers["Link"] = f'<{p.base}/memberships?page=2>; rel="next"'
        return resp

    @app.post("/deeplink/return")
    def deeplink_return() -> Any:
        claims = p.verify_tool_jwt(request.form["JWT"], p.issuer)
        assert claims[CLAIM + "message_type"] == "LtiDeepLinkingResponse"
        assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == p.deep_link_data
        assert claims[CLAIM + "deployment_id"] == DEPLOYMENT and claims["iss"] == CLIENT_ID
        items = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
        for item in items:
            assert item["type"] == "ltiResourceLink" and item["lineItem"]["scoreMaximum"] == 1
            n = len(p.links) + 1
            p.links.append(Link(f"link-{n}", item["title"], item["custom"], f"{p.base}/lineitems/{n}"))
        return Response(f"<p id='linked'>{len(items)} activities added</p>", mimetype="text/html")

    return app


class SimServer:
    """The simulator on a free 127.0.0.1 port, in a thread (a real HTTP server: the tool calls it)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.platform = Platform()
        self._server = make_server(host, 0, create_sim_app(self.platform), threaded=True)
        self.platform.base = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()

"""The LTI blueprints: ``/lti/...`` pages and the tool's ``/.well-known/jwks.json``."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates", static_folder="static",
               static_url_path="/static")
well_known = Blueprint("lti_jwks", __name__)

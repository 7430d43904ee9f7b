"""The LTI 1.3 edge: OIDC login, launch, deep linking, the tool's JWKS and config, course and admin pages."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from service.lti import pages, views  # noqa: F401  (their routes register on the blueprints)
    from service.lti.blueprint import bp, well_known

    app.register_blueprint(bp)
    app.register_blueprint(well_known)

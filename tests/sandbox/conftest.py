"""Fixtures for the adversarial sandbox suite (helpers live in sandbox_support.py)."""

from sandbox_support import pool, run  # noqa: F401 - pytest fixtures

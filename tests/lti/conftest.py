"""LTI fixtures (defined in tests/lti_support.py, shared with the browser test)."""

from lti_support import driver, sim, tool  # noqa: F401

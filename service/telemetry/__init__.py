"""Operator telemetry: Prometheus metrics, JSON logs and request ids (a leaf: imports nothing of Kiwame)."""

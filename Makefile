# The two set-up commands of the README: `make serve` and `make test` (`make serve PORT=8001 HOST=0.0.0.0`).
.PHONY: serve test test-faults lint wheel-check
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000

serve:
	./scripts/bootstrap.sh
	$(VENV)/bin/kiwame serve --host $(HOST) --port $(PORT)

test:
	./scripts/bootstrap.sh test
	$(VENV)/bin/python -m pytest

# Only the queue-mode fault test (also part of `make test`): starts its own Redis and PostgreSQL
# (needs redis-server, PostgreSQL binaries and root; skips with the reason otherwise).
test-faults:
	./scripts/bootstrap.sh test
	$(VENV)/bin/python -m pytest -m faults -s tests/faults

lint:
	$(VENV)/bin/ruff check service tests benchmarks
	$(VENV)/bin/mypy

# Builds the wheel and runs it from a clean venv outside the checkout (what .ci/run does).
wheel-check:
	./scripts/wheel-check.sh

# The two set-up commands of the README: `make serve` and `make test`.
.PHONY: serve test test-faults lint
VENV ?= .venv

serve:
	./scripts/bootstrap.sh
	$(VENV)/bin/kiwame serve

test:
	./scripts/bootstrap.sh test
	$(VENV)/bin/python -m pytest -m "not faults"

# Queue mode under faults: starts its own Redis and PostgreSQL (needs redis-server, PostgreSQL, root).
test-faults:
	./scripts/bootstrap.sh test
	$(VENV)/bin/python -m pytest -m faults -s tests/faults

lint:
	$(VENV)/bin/ruff check service tests benchmarks
	$(VENV)/bin/mypy

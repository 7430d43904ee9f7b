# The two set-up commands of the README: `make serve` and `make test`.
.PHONY: serve test lint
VENV ?= .venv

serve:
	./scripts/bootstrap.sh
	$(VENV)/bin/kiwame serve

test:
	./scripts/bootstrap.sh test
	$(VENV)/bin/python -m pytest

lint:
	$(VENV)/bin/ruff check service tests benchmarks
	$(VENV)/bin/mypy

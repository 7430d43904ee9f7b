#!/usr/bin/env bash
# Creates .venv and installs Kiwame into it (idempotent). Used by `make serve`, `make test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${KIWAME_VENV:-.venv}"
EXTRAS="${1:-}"   # "" or "test"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# torch first, and the CPU build explicitly: a plain `pip install torch` can pull a multi-GB CUDA build.
# A local CPU wheel (as on our CI machines) wins; otherwise PyTorch's CPU index is used.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    wheel=$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -n 1 || true)
    if [ -n "$wheel" ]; then
        "${PIP[@]}" install "$wheel"
    else
        "${PIP[@]}" install "torch>=2.2,<2.15" --index-url https://download.pytorch.org/whl/cpu
    fi
fi

if [ "$EXTRAS" = "test" ]; then
    "${PIP[@]}" install -e ".[test]"
else
    "${PIP[@]}" install -e .
fi

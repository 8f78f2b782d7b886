#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with torch's CPU build first, then photostyle and its tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# torch first: with it in place pip keeps this (CPU) build instead of pulling a multi-GB CUDA one.
.venv/bin/python -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
stamp=.venv/.photostyle-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  pip install -e ".[dev,album,ray]"
  touch "$stamp"
fi

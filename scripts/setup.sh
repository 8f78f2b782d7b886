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
  pip install -e ".[dev,album,ray,person]"
  touch "$stamp"
fi
# mediapipe 0.10.21 (the last release whose wheel ships the selfie, pose and face models) without its declared
# dependencies: the few it needs at import come with the "person" extra above.
.venv/bin/python -c "import importlib.metadata as m; assert m.version('mediapipe') == '0.10.21'" 2>/dev/null ||
  pip install --no-deps "mediapipe==0.10.21"

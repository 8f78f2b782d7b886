#!/usr/bin/env bash
# Set up (idempotent) and style the bundled samples: results and side-by-side pictures land in out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/photostyle demo -o out/demo "$@"

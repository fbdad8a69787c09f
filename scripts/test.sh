#!/usr/bin/env bash
# The test suite: set-up, then pytest (slow real-data checks are opt-in: add --run-slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python -m pytest -q "$@"

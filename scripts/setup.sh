#!/usr/bin/env bash
# Install seminpaint and its test tools into the current Python (3.11+).
# torch is pinned to the CPU build first: a looser requirement would pull several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python -m pip install --quiet --disable-pip-version-check -e ".[test]"

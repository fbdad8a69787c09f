#!/usr/bin/env bash
# The main job: set-up, then the demo on real faces that ship with scikit-image, using the
# face model that ships with the package. Writes demo_output/demo.png and prints PSNR per image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seminpaint demo --out demo_output --overwrite "$@"

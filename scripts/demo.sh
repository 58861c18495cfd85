#!/usr/bin/env bash
# Set up .venv/ and run the main job: `aib demo` exports the bundled demo model,
# runs it on a synthetic video with ground truth and writes demo-output/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/aib demo --output "${1:-demo-output}"

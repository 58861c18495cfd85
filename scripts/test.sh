#!/usr/bin/env bash
# Set up .venv/ and run the whole test suite (no GPU needed; TensorRT tests skip with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"

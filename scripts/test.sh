#!/usr/bin/env bash
# Set up .venv/, check layout and lint (ruff), and run the whole test suite (no GPU needed; TensorRT tests skip
# with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Layout and lint first: a slip fails in seconds, before the suite's minutes (fix with `.venv/bin/ruff format .`).
.venv/bin/ruff format --check .
.venv/bin/ruff check .
# Two workers, one per core: most tests wait on a server or a subprocess part of the time.
exec .venv/bin/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder "$@"

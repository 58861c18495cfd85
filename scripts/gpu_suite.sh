#!/usr/bin/env bash
# The GPU suite in one command (benchmarks/gpu_suite.py says what it measures). It installs nothing from the
# network: where aib_deploy is not importable (the GPU machine), the wheels in .whl/ are installed into a
# temporary folder (the missing grpc packages, and aib_deploy's own wheel built beforehand with
# `.venv/bin/python -m pip wheel --no-deps -w .whl .`); without an aib_deploy wheel there, this checkout is
# built in place, which needs setuptools on that machine.
#   bash scripts/gpu_suite.sh OUT_DIR [--dry-run] [--budget-s SECONDS]
# PYTHON picks the interpreter (default: .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bash scripts/gpu_suite.sh OUT_DIR [--dry-run] [--budget-s SECONDS]" >&2; exit 2; }
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x .venv/bin/python ] && PYTHON=.venv/bin/python
fi
if ! "$PYTHON" -c "import aib_deploy.serving" 2>/dev/null; then
    site=$(mktemp -d)
    wheels=(.whl/*.whl)
    [ -e "${wheels[0]}" ] || wheels=()
    compgen -G ".whl/aib_deploy-*.whl" >/dev/null || wheels+=(.)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$site" "${wheels[@]}"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PYTHON" benchmarks/gpu_suite.py "$@"

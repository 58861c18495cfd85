#!/usr/bin/env bash
# Create .venv/ in the repository root and install aib-deploy with its export and test extras.
# torch is pinned to the CPU build that this machine's pip finds on local disk;
# an unpinned torch would download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[export,dev]" 2>&1 | grep -v "^WARNING: Location" || true
# TensorRT 10 and 11's lean runtime and builder bindings, for the tests that check API names (no GPU needed).
.venv/bin/python -m tests.helpers.tensorrt_api
.venv/bin/python -m tests.helpers.tritonserver
.venv/bin/aib --version

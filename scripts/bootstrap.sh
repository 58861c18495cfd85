#!/usr/bin/env bash
# Create .venv/ in the repository root and install aib-deploy with its export and test extras.
# uv installs (pip took a minute here, uv a few seconds); pip only brings uv itself.
# torch is pinned to the CPU build that this machine's pip finds on local disk (its find-links); an unpinned
# torch would download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=torch==2.13.0
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
pip_quietly() {  # pip without its warning about this machine's unused extra index
    local log
    if ! log=$(.venv/bin/python -m pip --disable-pip-version-check -q "$@" 2>&1); then
        echo "$log" >&2
        return 1
    fi
    grep -v "^WARNING: Location" <<<"$log" || true
}
[ -x .venv/bin/uv ] || pip_quietly install uv
UV=(.venv/bin/uv pip install --quiet --python .venv/bin/python)
# uv does not read pip's configuration: hand it the local torch wheel when pip's find-links hold one.
python_tag=$(.venv/bin/python -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
local_torch=""
for folder in $(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true); do
    local_torch=$(compgen -G "$folder/${TORCH/==/-}+cpu-$python_tag-*.whl" | head -n 1 || true)
    [ -n "$local_torch" ] && break
done
if [ -n "$local_torch" ]; then
    "${UV[@]}" "$local_torch"
else
    pip_quietly install "$TORCH"
fi
"${UV[@]}" -e ".[export,dev]"
# TensorRT 10 and 11's lean runtime and builder bindings, for the tests that check API names (no GPU needed).
.venv/bin/python -m tests.helpers.tensorrt_api
.venv/bin/python -m tests.helpers.tritonserver
.venv/bin/aib --version

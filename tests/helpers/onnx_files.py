"""What every ONNX file we write must pass: ONNX's full check and NVIDIA's `polygraphy check lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx

POLYGRAPHY = Path(sys.executable).with_name("polygraphy")


def assert_valid_onnx(path: Path) -> None:
    """onnx.checker with full_check (strict shape inference), then Polygraphy's lint, which runs the graph on
    ONNX Runtime node by node and reports what TensorRT's parser would stumble on."""
    onnx.checker.check_model(str(path), full_check=True)
    lint = subprocess.run([POLYGRAPHY, "check", "lint", str(path)], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0 and "PASSED" in lint.stdout + lint.stderr, lint.stdout[-2000:] + lint.stderr[-2000:]

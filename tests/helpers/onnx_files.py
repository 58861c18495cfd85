"""What every ONNX file we write must pass: ONNX's full check and NVIDIA's `polygraphy check lint`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import onnx


def typed_graph(path: Path) -> onnx.ModelProto:
    """The file's graph with every tensor's type inferred, its large weights left out: types and structure
    are what the tests read, and copying the weights of CUB WRN-50-2 through `typed` takes seconds. The
    bytes kept are those shape inference reads (`graph_cleanup.INFERENCE_READS_BYTES`)."""
    from aib_deploy.export.graph_cleanup import INFERENCE_READS_BYTES, typed

    model = onnx.load(str(path))
    for initializer in model.graph.initializer:
        if len(initializer.raw_data) > INFERENCE_READS_BYTES:
            initializer.ClearField("raw_data")
    return typed(model)


def assert_valid_onnx(path: Path) -> None:
    """onnx.checker with full_check (strict shape inference), then Polygraphy's lint, which runs the graph on
    ONNX Runtime node by node and reports what TensorRT's parser would stumble on.

    The lint runs in this process through Polygraphy's own entry point (`polygraphy.tools.main`, what the
    `polygraphy` command calls): a fresh process would spend seconds importing PyTorch, which Polygraphy
    looks for on every run."""
    from polygraphy.tools import main as polygraphy

    onnx.checker.check_model(str(path), full_check=True)
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "lint.json"
        status = polygraphy(["check", "lint", str(path), "-o", str(report_path)])
        report = json.loads(report_path.read_text())
    assert status == 0 and not report["summary"]["failing"] and not report["lint_entries"], report

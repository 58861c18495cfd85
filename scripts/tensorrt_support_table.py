"""Rebuild aib_deploy/data/tensorrt_onnx_support.json from onnx-tensorrt's docs/operators.md.

    .venv/bin/python scripts/tensorrt_support_table.py OPERATORS_MD COMMIT EDITION

OPERATORS_MD is the file from a checkout of github.com/onnx/onnx-tensorrt at COMMIT (its
TensorRT EDITION, e.g. "10.1 GA"). The Y/N matrix and the opset range in its header become data;
the restrictions that can be read off a graph are written below as rules, each with the doc's words.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

TABLE = Path(__file__).resolve().parent.parent / "aib_deploy" / "data" / "tensorrt_onnx_support.json"
REDUCE = (
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
)
# Inputs the parser needs as initializers (input positions), as the edition states them.
INITIALIZER_INPUTS = {
    **{op: {"inputs": [1], "from_opset": 18, "doc": "`axes` must be an initializer"} for op in REDUCE},
    "Pad": {"inputs": [3], "doc": "`axes` must be an initializer"},
    "Slice": {"inputs": [3], "doc": "`axes` must be an initializer"},
    "Squeeze": {"inputs": [1], "doc": "`axes` must be an initializer"},
    "Unsqueeze": {"inputs": [1], "doc": "`axes` must be a constant tensor"},
    "CumSum": {"inputs": [1], "doc": "`axis` must be an initializer"},
    "OneHot": {"inputs": [1], "doc": "`depth` must be a build-time constant"},
}
# Attribute values the parser takes (ONNX defaults where the attribute is absent).
ATTRIBUTE_RULES = {
    "TopK": {"sorted": {"allowed": [1], "default": 1, "doc": "`sorted` must be 1"}},
    "Resize": {
        "mode": {"allowed": ["nearest", "linear"], "default": "nearest", "doc": "Supported resize modes: `nearest`, `linear`"},
        "coordinate_transformation_mode": {
            "allowed": ["half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"],
            "default": "half_pixel",
            "doc": "Supported resize transformation modes",
        },
        "antialias": {"allowed": [0], "default": 0, "doc": "Antialiasing is not supported"},
        "keep_aspect_ratio_policy": {
            "allowed": ["stretch"],
            "default": "stretch",
            "doc": "Supported aspect ratio policy: `stretch`",
        },
    },
}
# Q/DQ: zero points must be 0, and the quantized type one of DequantizeLinear's "INT8, FP8, INT4" (ONNX's
# default, without a zero point, is UINT8). Input positions of the zero point.
ZERO_POINT_INPUTS = {"QuantizeLinear": 2, "DequantizeLinear": 2}
QUANTIZED_TYPES = ["INT8", "FLOAT8E4M3FN", "INT4"]


def parse(text: str) -> tuple[dict, list[str], list[str]]:
    header = re.search(r"supports operators in the inclusive range of opset (\d+) to opset (\d+)", text)
    rows = re.findall(r"^\|\s*([A-Z][A-Za-z0-9]*)\s*\|\s*([YN])\s*\|", text, flags=re.MULTILINE)
    supported = sorted({op for op, mark in rows if mark == "Y"})
    unsupported = sorted({op for op, mark in rows if mark == "N"})
    return {"min": int(header.group(1)), "max": int(header.group(2))}, supported, unsupported


def main() -> None:
    source, commit, edition = sys.argv[1:4]
    opset, supported, unsupported = parse(Path(source).read_text())
    table = {
        "about": "ONNX operators TensorRT's ONNX parser imports, and the restrictions `aib check` reads off a graph.",
        "source": f"onnx/onnx-tensorrt docs/operators.md, its TensorRT {edition} edition (commit {commit}): "
        f"the Y/N matrix, the opset range {opset['min']}-{opset['max']} of its header, and its restrictions",
        "conservative": "Operators the matrix marks N, and operators it does not list, fail the check.",
        "opset": opset,
        "supported": supported,
        "unsupported": unsupported,
        "initializer_inputs": INITIALIZER_INPUTS,
        "attribute_rules": ATTRIBUTE_RULES,
        "zero_point_inputs": ZERO_POINT_INPUTS,
        "quantized_types": QUANTIZED_TYPES,
    }
    TABLE.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {TABLE}: {len(supported)} supported, {len(unsupported)} not, opset {opset['min']}-{opset['max']}")


if __name__ == "__main__":
    main()

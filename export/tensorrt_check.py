"""`aib check`: will TensorRT's ONNX parser take this model? Answered without TensorRT or a GPU.

The operator table is data (`aib_deploy/data/tensorrt_onnx_support.json`,
with its source); the checks are the parser's documented restrictions that
can be read off the graph, plus a run at two batch sizes on ONNX Runtime to
show the batch dimension is really dynamic.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .sources import load_onnx
from .typing_lint import lint

SUPPORT_TABLE = "tensorrt_onnx_support.json"  # in aib_deploy/data
DEFAULT_DOMAINS = ("", "ai.onnx")
BATCH_PROBES = (1, 3)


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str


def load_support_table() -> dict:
    return json.loads((resources.files("aib_deploy") / "data" / SUPPORT_TABLE).read_text())


def constant_names(graph) -> set[str]:
    return {tensor.name for tensor in graph.initializer} | {
        output for node in graph.node if node.op_type == "Constant" for output in node.output
    }


def check_opset(model, table: dict) -> Finding:
    opset = model_opset(model)
    low, high = table["opset"]["min"], table["opset"]["max"]
    ok = opset is not None and low <= opset <= high
    return Finding("opset", ok, f"opset {opset}; the parser takes {low} to {high}")


def check_operators(graph, table: dict) -> Finding:
    supported = set(table["supported"])
    counts = Counter(node.op_type for node in graph.node)
    foreign = sorted({f"{node.domain}.{node.op_type}" for node in graph.node if node.domain not in DEFAULT_DOMAINS})
    unsupported = sorted(op for op in counts if op not in supported)
    if foreign or unsupported:
        names = {op: next(node.name for node in graph.node if node.op_type == op) for op in unsupported}
        problems = [f"{op} (node {names[op]})" for op in unsupported] + [f"{op} (not an ONNX domain)" for op in foreign]
        return Finding("operators", False, "not supported by TensorRT's ONNX parser: " + ", ".join(problems))
    summary = ", ".join(f"{op} x{count}" for op, count in sorted(counts.items()))
    return Finding("operators", True, f"{len(counts)} kinds, all in the table: {summary}")


def model_opset(model) -> int | None:
    return next((entry.version for entry in model.opset_import if entry.domain in DEFAULT_DOMAINS), None)


def check_constant_inputs(graph, table: dict, opset: int | None) -> Finding:
    """Inputs the parser needs as initializers or constants (Reduce axes from opset 18, Slice/Pad/Squeeze axes, ...)."""
    constants = constant_names(graph)
    problems = []
    for node in graph.node:
        rule = table["initializer_inputs"].get(node.op_type)
        if rule is None or (opset is not None and opset < rule.get("from_opset", 0)):
            continue
        for position in rule["inputs"]:
            if position < len(node.input) and node.input[position] and node.input[position] not in constants:
                problems.append(
                    f"{node.op_type} node {node.name}: input {position} ({node.input[position]}) is computed "
                    f"at run time; the parser says: {rule['doc']}"
                )
    detail = "; ".join(problems) or "inputs the parser needs as constants (axes, depth) are constants"
    return Finding("constant inputs", not problems, detail)


def attribute_value(node, name: str, default):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            value = helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def check_attributes(graph, table: dict) -> Finding:
    """Attribute values the parser refuses (TopK unsorted, Resize cubic or antialiased, ...)."""
    problems = []
    for node in graph.node:
        for name, rule in table["attribute_rules"].get(node.op_type, {}).items():
            value = attribute_value(node, name, rule["default"])
            if value not in rule["allowed"]:
                problems.append(f"{node.op_type} node {node.name}: {name}={value!r}; the parser says: {rule['doc']}")
    return Finding("attributes", not problems, "; ".join(problems) or "no attribute the parser refuses")


def check_zero_points(graph, table: dict) -> Finding:
    """TensorRT's explicit quantization takes symmetric scales (zero point 0) of a quantized type it has (INT8,
    FP8, INT4); without a zero point ONNX's default type is UINT8, which TensorRT does not take."""
    from onnx import TensorProto, numpy_helper

    allowed = {getattr(TensorProto, name) for name in table["quantized_types"]}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    problems, count = [], 0
    for node in graph.node:
        position = table["zero_point_inputs"].get(node.op_type)
        if position is None:
            continue
        count += 1
        if position >= len(node.input) or not node.input[position]:
            problems.append(
                f"{node.op_type} node {node.name}: no zero point, so ONNX's default UINT8; TensorRT takes "
                f"{', '.join(table['quantized_types'])}"
            )
            continue
        tensor = initializers.get(node.input[position])
        if tensor is None or np.any(numpy_helper.to_array(tensor) != 0):
            problems.append(f"{node.op_type} node {node.name}: zero point {node.input[position]} is not a constant 0")
        elif tensor.data_type not in allowed:
            kind = TensorProto.DataType.Name(tensor.data_type)
            problems.append(
                f"{node.op_type} node {node.name}: quantized type {kind}; TensorRT takes {', '.join(table['quantized_types'])}"
            )
    detail = "; ".join(problems) or (f"{count} Q/DQ nodes, all INT8 with zero points 0" if count else "no Q/DQ nodes")
    return Finding("quantization", not problems, detail)


def check_outputs_declared(graph) -> Finding:
    from onnx import TensorProto

    problems, described = [], []
    for output in graph.output:
        tensor = output.type.tensor_type
        if tensor.elem_type == TensorProto.UNDEFINED or not tensor.HasField("shape"):
            problems.append(f"output {output.name}: element type or rank not declared")
        else:
            described.append(f"{output.name} {TensorProto.DataType.Name(tensor.elem_type).lower()} rank {len(tensor.shape.dim)}")
    return Finding("outputs declared", not problems, "; ".join(problems) or ", ".join(described))


def check_dynamic_batch(path: Path, graph) -> Finding:
    """Declared symbolic in every input and output, and running at two batch sizes."""
    import onnxruntime

    fixed = [
        value.name
        for value in [*graph.input, *graph.output]
        if not value.type.tensor_type.shape.dim or not value.type.tensor_type.shape.dim[0].dim_param
    ]
    if fixed:
        return Finding("dynamic batch", False, f"first dimension fixed or missing in: {', '.join(fixed)}")
    try:
        quiet = onnxruntime.SessionOptions()
        quiet.log_severity_level = 4  # its own log lines would precede our one-line verdict
        session = onnxruntime.InferenceSession(str(path), quiet, providers=["CPUExecutionProvider"])
        image_input = session.get_inputs()[0]
        for batch in BATCH_PROBES:
            shape = [batch, *(dim if isinstance(dim, int) else 1 for dim in image_input.shape[1:])]
            outputs = session.run(None, {image_input.name: np.zeros(shape, np.float32)})
            wrong = [output.name for output, value in zip(session.get_outputs(), outputs) if value.shape[0] != batch]
            if wrong:
                return Finding("dynamic batch", False, f"at batch {batch}, {', '.join(wrong)} do not follow the batch size")
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph/... types
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return Finding("dynamic batch", False, f"ONNX Runtime cannot run it to check: {reason}")
    return Finding(
        "dynamic batch", True, f"symbolic in every input and output; ran at batch {' and '.join(map(str, BATCH_PROBES))}"
    )


def check_tensorrt_readiness(path: Path, table: dict | None = None) -> list[Finding]:
    model = load_onnx(path, "aib check")
    table = table or load_support_table()
    graph = model.graph
    findings = [
        check_opset(model, table),
        check_operators(graph, table),
        check_constant_inputs(graph, table, model_opset(model)),
        check_attributes(graph, table),
        check_zero_points(graph, table),
        check_outputs_declared(graph),
    ]
    findings += [Finding(verdict.rule.name, verdict.ok, verdict.detail()) for verdict in lint(model)]
    if findings[1].ok:  # an unsupported op may be one ONNX Runtime cannot run either
        findings.append(check_dynamic_batch(path, graph))
    return findings

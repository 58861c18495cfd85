"""The legality rules of a strongly typed TensorRT network that can be read off an ONNX file.

TensorRT 11 builds every network strongly typed: each tensor keeps the type
the file gives it, so a wrong type in the file is a wrong engine, not a hint
the builder overrides. Each rule is data: its name, the page it comes from,
what that page requires, and a check that returns one phrase per problem.
`aib check` prints one line per rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ..backends.graph_regions import float32_nodes

ONNX_IR = "https://github.com/onnx/onnx/blob/main/docs/IR.md#graphs"
ONNX_CHECKER = "https://onnx.ai/onnx/api/checker.html"
STRONG_TYPING = "https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/advanced.html#strongly-typed-networks"
EXPLICIT_QUANTIZATION = (
    "https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/quantized-types-explicit-quantization.html"
)
FLOAT_TYPES = {"FLOAT", "FLOAT16", "BFLOAT16", "DOUBLE"}
# Ops whose inputs TensorRT's strong typing requires to share one type (Where: its two value inputs).
ELEMENTWISE = {
    "Add": (0, 1),
    "Sub": (0, 1),
    "Mul": (0, 1),
    "Div": (0, 1),
    "Pow": (0, 1),
    "Max": None,
    "Min": None,
    "Sum": None,
    "Mean": None,
    "Equal": (0, 1),
    "Less": (0, 1),
    "Greater": (0, 1),
    "LessOrEqual": (0, 1),
    "GreaterOrEqual": (0, 1),
    "PRelu": (0, 1),
    "Where": (1, 2),
}
LINEAR_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
LISTED = 3  # problems named in full per rule; the rest are counted


class Constants(Mapping):
    """Initializers by name, each read into an array only when a rule asks for its values: the rules read a
    few scales, and copying every weight of a 440 MB model took a second."""

    def __init__(self, tensors: dict) -> None:
        self.tensors = tensors

    def __getitem__(self, name: str) -> np.ndarray:
        from onnx import numpy_helper

        return numpy_helper.to_array(self.tensors[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)


@dataclass(frozen=True)
class Graph:
    """The model with what the rules need: producers, readers, constants and every tensor's element type
    (inferred again from a sorted copy, so a file with stale `value_info` is judged by what it computes)."""

    model: object
    types: dict[str, str]
    producer: dict
    readers: dict
    constants: Constants

    @classmethod
    def of(cls, model) -> Graph:
        from onnx import TensorProto

        from .graph_cleanup import skeleton, typed

        inferred = typed(skeleton(model), strict=False).graph  # types only: no copy of the weights
        types = {}
        for value in [*inferred.input, *inferred.output, *inferred.value_info]:
            types[value.name] = TensorProto.DataType.Name(value.type.tensor_type.elem_type)
        for tensor in model.graph.initializer:
            types[tensor.name] = TensorProto.DataType.Name(tensor.data_type)
        readers: dict = {}
        for node in model.graph.node:
            for tensor in node.input:
                readers.setdefault(tensor, []).append(node)
        return cls(
            model,
            types,
            {tensor: node for node in model.graph.node for tensor in node.output},
            readers,
            Constants({tensor.name: tensor for tensor in model.graph.initializer}),
        )

    @property
    def nodes(self):
        return self.model.graph.node


def out_of_order(graph: Graph) -> list[str]:
    known = {value.name for value in graph.model.graph.input} | set(graph.constants)
    problems = []
    for node in graph.nodes:
        problems += [
            f"node {node.name} reads {tensor} before any node makes it" for tensor in node.input if tensor and tensor not in known
        ]
        known.update(node.output)
    return problems


def checker_failures(graph: Graph) -> list[str]:
    import onnx

    try:
        onnx.checker.check_model(graph.model, full_check=True)
    except Exception as error:  # noqa: BLE001 - the checker raises ValidationError, InferenceError and others
        return [" ".join(str(error).split())[:200]]
    return []


def mixed_float_inputs(graph: Graph) -> list[str]:
    problems = []
    for node in graph.nodes:
        if node.op_type not in ELEMENTWISE:
            continue
        positions = ELEMENTWISE[node.op_type] or range(len(node.input))
        kinds = {graph.types.get(node.input[i]) for i in positions if i < len(node.input) and node.input[i]}
        floats = sorted(kind for kind in kinds if kind in FLOAT_TYPES)
        if len(floats) > 1:
            problems.append(f"{node.op_type} node {node.name} mixes {' and '.join(floats)}")
    return problems


def snap_not_float32(graph: Graph) -> list[str]:
    """The contract's snap: from the sigmoid's input to the attention outputs, every float tensor float32."""
    snap = set(float32_nodes(graph.model))
    problems = []
    for node in graph.nodes:
        if node.name not in snap:
            continue
        for tensor in [*node.input, *node.output]:
            kind = graph.types.get(tensor)
            if kind in FLOAT_TYPES and kind != "FLOAT":
                problems.append(f"{node.op_type} node {node.name}: {tensor} is {kind}")
    return problems


def weight_dequantize_not_into_linear(graph: Graph) -> list[str]:
    problems = []
    for node in graph.nodes:
        if node.op_type != "DequantizeLinear" or node.input[0] not in graph.constants:
            continue
        for reader in graph.readers.get(node.output[0], []):
            if reader.op_type not in LINEAR_OPS:
                problems.append(f"weights {node.input[0]} dequantized into {reader.op_type} node {reader.name}")
    return problems


def qdq_into_batchnorm(graph: Graph) -> list[str]:
    problems = []
    for node in graph.nodes:
        if node.op_type == "BatchNormalization":
            for tensor in node.input:
                source = graph.producer.get(tensor)
                if source is not None and source.op_type in ("QuantizeLinear", "DequantizeLinear"):
                    problems.append(f"BatchNormalization node {node.name} reads {tensor} from {source.op_type}")
    return problems


def int32_dequantize(graph: Graph) -> list[str]:
    return [
        f"DequantizeLinear node {node.name} of {graph.types[node.input[0]]} {node.input[0]}"
        for node in graph.nodes
        if node.op_type == "DequantizeLinear" and graph.types.get(node.input[0]) == "INT32"
    ]


def bad_scales(graph: Graph) -> list[str]:
    problems = []
    for node in graph.nodes:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 2:
            continue
        scale = node.input[1]
        if scale not in graph.constants:
            problems.append(f"{node.op_type} node {node.name}: scale {scale} is not a constant")
        elif graph.types.get(scale) != "FLOAT":
            problems.append(f"{node.op_type} node {node.name}: scale {scale} is {graph.types.get(scale)}, not FLOAT")
        elif not (np.isfinite(graph.constants[scale]).all() and (graph.constants[scale] > 0).all()):
            problems.append(f"{node.op_type} node {node.name}: scale {scale} is not positive and finite")
    return problems


@dataclass(frozen=True)
class Rule:
    name: str
    source: str  # the documentation page the rule comes from
    requires: str  # what that page requires, in a phrase
    problems: Callable[[Graph], list[str]]


RULES = (
    Rule("topological order", ONNX_IR, "nodes are listed after the nodes that make their inputs", out_of_order),
    Rule("full ONNX check", ONNX_CHECKER, "onnx.checker.check_model(full_check=True) passes", checker_failures),
    Rule("one float type per op", STRONG_TYPING, "elementwise inputs share one type; casts are explicit", mixed_float_inputs),
    Rule("float32 anchor snap", STRONG_TYPING, "the file's types are the engine's: the snap is float32", snap_not_float32),
    Rule(
        "weight Q/DQ placement",
        EXPLICIT_QUANTIZATION,
        "a weights DequantizeLinear feeds a linear op",
        weight_dequantize_not_into_linear,
    ),
    Rule("BatchNormalization in float", EXPLICIT_QUANTIZATION, "no Q/DQ in front of a BatchNormalization", qdq_into_batchnorm),
    Rule("quantized types", EXPLICIT_QUANTIZATION, "DequantizeLinear of INT8, FP8, INT4 or FP4, never INT32", int32_dequantize),
    Rule("quantization scales", EXPLICIT_QUANTIZATION, "scales are positive float32 constants", bad_scales),
)


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def detail(self) -> str:
        if self.ok:
            return self.rule.requires
        named = "; ".join(self.problems[:LISTED])
        more = f"; and {len(self.problems) - LISTED} more" if len(self.problems) > LISTED else ""
        return f"{named}{more} (rule: {self.rule.requires}; {self.rule.source})"


def lint(model) -> list[Verdict]:
    """Every rule's verdict on `model` (a ModelProto)."""
    graph = Graph.of(model)
    return [Verdict(rule, rule.problems(graph)) for rule in RULES]

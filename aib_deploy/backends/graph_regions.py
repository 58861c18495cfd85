"""Regions of an exported AIB graph: which nodes compute the attention.

Both INT8 export (what stays float32) and the TensorRT builder (what is pinned
to float32) need to know; this is where that is read off the graph (an
`onnx.ModelProto`, duck-typed; onnx is imported only for its type enum).
"""

from __future__ import annotations

from ..contract import ATTENTION_OUTPUTS
from ..errors import AibError

FIXED_REGIONS = ("attention-path", "head")
SNAP_START = "Sigmoid"  # the attention mean; everything after it up to the outputs is the snap


def ancestors(nodes, outputs: tuple[str, ...], cut: tuple[str, ...] = ()) -> set[str]:
    """Names of the nodes that `outputs` depend on, not looking behind the tensors in `cut`."""
    producer = {tensor: node for node in nodes for tensor in node.output}
    found: set[str] = set()
    stack = [tensor for tensor in outputs if tensor in producer]
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in found or tensor in cut:
            continue
        found.add(node.name)
        stack.extend(node.input)
    return found


def float_nodes(model, region: str) -> list[str]:
    """The nodes of a region, in graph order: `attention-path` is every node the attention outputs depend
    on; `head` is those of them the logits reach only through the attention (the head and the snap)."""
    nodes = model.graph.node
    path = ancestors(nodes, ATTENTION_OUTPUTS)
    if region == "attention-path":
        keep = path
    elif region == "head":
        keep = path - ancestors(nodes, ("logits",), cut=("attention",))
    else:
        raise AibError(f"--float: expected one of {', '.join(FIXED_REGIONS)}, got {region!r}")
    return [node.name for node in nodes if node.name in keep]


def float32_nodes(model) -> list[str]:
    """ONNX nodes pinned to float32: the last Sigmoid before the attention outputs and all after it."""
    nodes = model.graph.node
    path = ancestors(nodes, ATTENTION_OUTPUTS)
    sigmoids = [node for node in nodes if node.op_type == SNAP_START and node.name in path]
    if not sigmoids:
        return []
    cut = tuple(sigmoids[-1].input)
    return [node.name for node in nodes if node.name in ancestors(nodes, ATTENTION_OUTPUTS, cut=cut)]


def has_qdq(model) -> bool:
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in model.graph.node)


def file_precision(model) -> str:
    """What a strongly typed build of this ONNX model runs in: int8 (Q/DQ), fp16 (float16 tensors) or fp32."""
    from onnx import TensorProto

    if has_qdq(model):
        return "int8"
    half = TensorProto.FLOAT16
    casts_to_fp16 = any(
        node.op_type == "Cast" and any(a.name == "to" and a.i == half for a in node.attribute) for node in model.graph.node
    )
    if casts_to_fp16 or any(tensor.data_type == half for tensor in model.graph.initializer):
        return "fp16"
    return "fp32"

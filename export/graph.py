"""Regions of an exported AIB graph, and the clean-up of Q/DQ pairs where float was asked for.

Both INT8 export (what stays float32) and the TensorRT builder (what is pinned
to float32) need to know which nodes compute the attention; this is where that
is read off the graph.
"""
from __future__ import annotations

from ..errors import AibError

ATTENTION_OUTPUTS = ("attention", "attention_index")
FIXED_REGIONS = ("attention-path", "head")


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


def reconnect_float(graph, keep_float: set[str]) -> None:
    """Undo the quantizer's Q/DQ round trips where float was asked for.

    ONNX Runtime's quantizer shares one Q/DQ pair among all consumers of a tensor,
    float ones included, and routes graph outputs through Q/DQ. Here the float
    nodes read the original tensor again, every graph output is the float tensor
    itself, and pairs nobody reads any more are removed.
    """
    producer = {tensor: node for node in graph.node for tensor in node.output}

    def float_source(tensor: str) -> str | None:
        dequantize = producer.get(tensor)
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            return None
        quantize = producer.get(dequantize.input[0])
        return quantize.input[0] if quantize is not None and quantize.op_type == "QuantizeLinear" else None

    for node in graph.node:
        if node.name in keep_float:
            for position, tensor in enumerate(node.input):
                node.input[position] = float_source(tensor) or tensor
    for output in graph.output:
        source = float_source(output.name)
        if source is None:
            continue
        copy = output.name + "_int8_roundtrip"
        for node in graph.node:
            node.output[:] = [copy if t == output.name else output.name if t == source else t for t in node.output]
            node.input[:] = [copy if t == output.name else output.name if t == source else t for t in node.input]
    remove_unread(graph)


def remove_unread(graph) -> None:
    """Drop nodes whose outputs nobody reads, until none is left, then unread initializers."""
    while True:
        read = {tensor for node in graph.node for tensor in node.input} | {output.name for output in graph.output}
        unread = [node for node in graph.node if not set(node.output) & read]
        if not unread:
            break
        for node in unread:
            graph.node.remove(node)
    for initializer in [tensor for tensor in graph.initializer if tensor.name not in read]:
        graph.initializer.remove(initializer)

"""Clean-up of the quantizer's Q/DQ pairs where float was asked for (INT8 export)."""

from __future__ import annotations


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

"""Tidying a converter's output into a valid graph, with ONNX's own IR (`onnx_ir`, which the exporter uses).

ONNX Runtime's float16 converter appends its Casts at the end of the node
list, leaves `value_info` entries with the types of before the conversion,
and brackets every float32 node with its own float32 -> float16 -> float32
round trip. What comes out here is sorted, typed by ONNX's strict shape
inference, and free of Casts that change nothing or undo each other.
"""

from __future__ import annotations

CONVERTER_SUFFIX = "_cast_to_fp16"  # what the float16 converter renames a float32 node's output to
FLOAT_WIDTH = {"FLOAT16": 16, "BFLOAT16": 16, "FLOAT": 32, "DOUBLE": 64}
INFERENCE_READS_BYTES = 4096  # shape inference reads the values of small constants only (shapes, axes, indices)


def typed(model, strict: bool = True):
    """`model` (a ModelProto) sorted, its stale intermediate types dropped and inferred again; `strict`
    raises on what inference cannot type, as the full check does."""
    import onnx_ir as ir

    editable = ir.from_proto(model)
    graph = editable.graph
    graph.sort()
    outputs = set(graph.outputs)
    for node in graph:
        for value in node.outputs:
            if value not in outputs:
                value.type, value.shape = None, None
    for value in graph.initializers.values():
        value.dtype, value.shape = value.const_value.dtype, value.const_value.shape
    return inferred(ir.to_proto(editable), strict)


def skeleton(model):
    """A ModelProto sharing `model`'s graph but not its weights' bytes: large initializers keep their name,
    type and dims only. Shape inference never reads them, and serializing and parsing a 440 MB model for it
    took 5 s, not 0.1. Small initializers, which shape computations may read (shapes, axes, indices), stay
    whole."""
    import onnx

    graph = model.graph
    bare_graph = onnx.GraphProto(
        name=graph.name,
        node=graph.node,
        input=graph.input,
        output=graph.output,
        value_info=graph.value_info,
        sparse_initializer=graph.sparse_initializer,
    )
    for tensor in graph.initializer:
        if tensor.ByteSize() > INFERENCE_READS_BYTES:
            tensor = onnx.TensorProto(name=tensor.name, dims=tensor.dims, data_type=tensor.data_type)
        bare_graph.initializer.append(tensor)
    return onnx.ModelProto(
        ir_version=model.ir_version, opset_import=model.opset_import, functions=model.functions, graph=bare_graph
    )


def inferred(model, strict: bool):
    """`model` (a ModelProto, changed in place and returned) with the types and shapes ONNX's inference gives
    (run on its `skeleton`)."""
    import onnx

    graph = model.graph
    result = onnx.shape_inference.infer_shapes(skeleton(model), strict_mode=strict).graph
    for field in ("value_info", "output"):
        graph.ClearField(field)
        getattr(graph, field).extend(getattr(result, field))
    return model


def cast_origin(cast):
    """The value a Cast can be bypassed for: its input when the Cast changes nothing, or the input of the
    Cast before it when the two make a round trip through a narrower float type (float32 -> float16 ->
    float32); None when the Cast changes something."""
    import onnx_ir as ir

    target = ir.DataType(cast.attributes["to"].as_int())
    source = cast.inputs[0]
    if source.dtype == target:
        return source
    before = source.producer()
    if before is None or before.op_type != "Cast" or before.inputs[0].dtype != target:
        return None
    narrowed = FLOAT_WIDTH.get(source.dtype.name, 0) < FLOAT_WIDTH.get(target.name, 0)
    return before.inputs[0] if narrowed else None


def bypass(value, origin) -> bool:
    """Let every reader of `value` read `origin` instead; a graph output keeps its name. False when
    that would make one value two graph outputs, or a graph input an output."""
    if not value.is_graph_output():
        value.replace_all_uses_with(origin)
        return True
    if origin.is_graph_output() or origin.is_graph_input() or origin.is_initializer():
        return False
    name = value.name
    value.name = f"{name}__bypassed"
    value.replace_all_uses_with(origin, replace_graph_outputs=True)
    origin.name = name
    return True


def without_redundant_casts(model):
    """`model` (a ModelProto) sorted and typed, without Casts that change nothing or undo a narrowing."""
    import onnx_ir as ir
    from onnx_ir.passes.common import RemoveUnusedNodesPass

    editable = ir.from_proto(typed(model))
    for node in list(editable.graph):
        if node.op_type == "Cast":
            origin = cast_origin(node)
            if origin is not None:
                bypass(node.outputs[0], origin)
    RemoveUnusedNodesPass()(editable)
    restore_names(editable.graph)
    return ir.to_proto(editable)


def restore_names(graph) -> None:
    """Give a float32 node's output back the name it had before the converter bracketed it with Casts,
    where the Cast that took that name is gone."""
    taken = {value.name for node in graph for value in node.outputs} | {value.name for value in graph.inputs}
    taken |= set(graph.initializers)
    for node in graph:
        for value in node.outputs:
            stem = value.name.removesuffix(CONVERTER_SUFFIX)
            if stem != value.name and stem not in taken and not value.is_graph_output():
                taken.discard(value.name)
                value.name = stem
                taken.add(stem)


def cast_round_trips(model) -> list[str]:
    """Names of the Casts (in a typed ModelProto) that undo a Cast before them or change nothing."""
    import onnx_ir as ir

    graph = ir.from_proto(model).graph
    return [node.name for node in graph if node.op_type == "Cast" and cast_origin(node) is not None]

"""`aib export fp16`: every conformance family and the demo model, on ONNX Runtime CPU."""

import json

import pytest
from onnx import TensorProto

from aib_deploy.backends.graph_regions import float32_nodes
from aib_deploy.contract import MODEL_CARD_KEY
from aib_deploy.export.graph_cleanup import cast_round_trips
from aib_deploy.export.tensorrt_check import check_tensorrt_readiness
from tests.helpers.checkpoint_files import FAMILY_CASES
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.onnx_files import assert_valid_onnx, typed_graph


def convert(source, output, *flags):
    result = call_aib("export", "fp16", source, "-o", output, *flags)
    assert result.returncode == 0, result.stderr
    return result


def check_types(path):
    """The contract's input and output types, float16 convolutions, and a float32 snap and anchor table
    reached through one Cast into float32, with no Cast that undoes another."""
    model = typed_graph(path)
    assert [(v.name, v.type.tensor_type.elem_type) for v in model.graph.input] == [("images", TensorProto.FLOAT)]
    outputs = {v.name: v.type.tensor_type.elem_type for v in model.graph.output}
    assert outputs["logits"] == outputs["attention"] == TensorProto.FLOAT
    assert outputs.get("attention_index", TensorProto.INT32) == TensorProto.INT32
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    conv_weights = [initializers[node.input[1]] for node in model.graph.node if node.op_type == "Conv"]
    assert conv_weights and all(w.data_type == TensorProto.FLOAT16 for w in conv_weights)
    types = {value.name: value.type.tensor_type.elem_type for value in [*model.graph.value_info, *model.graph.output]}
    types.update({name: tensor.data_type for name, tensor in initializers.items()})
    snap = [node for node in model.graph.node if node.name in set(float32_nodes(model))]
    for node in snap:  # every float tensor the snap reads or writes is float32
        assert all(types.get(t) in (TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32) for t in [*node.input, *node.output])
    (gather,) = [node for node in snap if node.op_type == "Gather"]
    assert initializers[gather.input[0]].data_type == TensorProto.FLOAT  # the anchor table itself
    producer = {tensor: node for node in model.graph.node for tensor in node.output}
    (entry,) = [node for node in snap if node.op_type == "Sigmoid"]
    cast = producer[entry.input[0]]
    assert cast.op_type == "Cast" and cast.attribute[0].i == TensorProto.FLOAT  # the one Cast into the snap
    assert producer[cast.input[0]].op_type == "Conv"
    assert cast_round_trips(model) == []
    return model


@pytest.mark.parametrize("name", FAMILY_CASES)
def test_every_model_family_converts_runs_and_passes_the_check(name, case_onnx, tmp_path):
    source = case_onnx(name).path
    output = tmp_path / f"{name}.fp16.onnx"
    # One held-out frame: ONNX Runtime's CPU float16 kernels are slow, and the lint runs the file again.
    convert(source, output, "--held-out", "1", "--fail-under", "top1=0,index=0")  # reference-run weights: no gate
    model = check_types(output)
    record = json.loads({p.key: p.value for p in model.metadata_props}[MODEL_CARD_KEY])["extra"]["quantization"]
    assert record["agreement"]["attention_on_anchors"] == 1.0 and record["agreement"]["frames"] == 1
    assert_valid_onnx(output)
    # What `aib check` runs (the command itself is tested on the demo's files), in this process.
    findings = check_tensorrt_readiness(output)
    assert all(finding.ok for finding in findings), [finding for finding in findings if not finding.ok]


def test_demo_model_agrees_with_float32_on_held_out_frames(demo_onnx, tmp_path):
    output = tmp_path / "demo.fp16.onnx"
    result = convert(demo_onnx, output, "--held-out", "400")
    model = check_types(output)
    record = json.loads({p.key: p.value for p in model.metadata_props}[MODEL_CARD_KEY])["extra"]["quantization"]
    agreement = record["agreement"]
    assert record["precision"] == "fp16" and record["float32_nodes"] >= 5
    assert agreement["frames"] == 400 and agreement["top1"] >= 0.995
    assert agreement["index_exact"] >= 0.995 and agreement["index_within_one_step"] == 1.0
    assert agreement["attention_on_anchors"] == 1.0
    assert "400 held-out frames" in result.stdout and "equal to their float32 anchor 100.00%" in result.stdout
    assert_valid_onnx(output)


def test_overwriting_the_float32_file_is_refused(demo_onnx):
    assert_one_line_error(call_aib("export", "fp16", demo_onnx, "-o", demo_onnx), "it would be overwritten", code=2)

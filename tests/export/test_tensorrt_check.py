"""`aib check`: TensorRT readiness read off real ONNX files, without TensorRT."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.helpers.cli import assert_one_line_error, call_aib


def save(tmp_path, nodes, inputs, outputs, initializers=(), name="model.onnx", opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def tensor(name, elem_type=TensorProto.FLOAT, shape=("N", 3, 4, 4)):
    return helper.make_tensor_value_info(name, elem_type, list(shape))


def test_demo_model_float_and_int8_are_ready(demo_onnx, demo_int8):
    result = call_aib("check", demo_onnx)
    assert result.returncode == 0, result.stderr
    assert "ready for TensorRT" in result.stdout and "ArgMin x1" in result.stdout
    assert "attention_index int32 rank 4" in result.stdout and "ran at batch 1 and 3" in result.stdout
    result = call_aib("check", demo_int8)
    assert result.returncode == 0, result.stderr
    assert "Q/DQ nodes, all INT8 with zero points 0" in result.stdout


def test_unsupported_op_is_named(tmp_path):
    path = save(
        tmp_path,
        [helper.make_node("Col2Im", ["x", "size", "block"], ["y"], name="fold")],
        [tensor("x", shape=("N", 4, 4)), tensor("size", TensorProto.INT64, (2,)), tensor("block", TensorProto.INT64, (2,))],
        [tensor("y")],
    )
    result = call_aib("check", path)
    assert_one_line_error(result, "not ready for TensorRT", "Col2Im (node fold)")
    assert "FAIL operators" in result.stdout


def test_fixed_batch_fails(tmp_path):
    path = save(
        tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [tensor("x", shape=(2, 3, 4, 4))], [tensor("y", shape=(2, 3, 4, 4))]
    )
    assert_one_line_error(call_aib("check", path), "dynamic batch", "first dimension fixed or missing in: x, y")


AXES = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
SCALE = numpy_helper.from_array(np.array(0.1, np.float32), "scale")


@pytest.mark.parametrize(
    "nodes, initializers, fragment",
    [
        (
            [helper.make_node("Resize", ["x", "", "scales"], ["y"], name="grow", mode="cubic")],
            [numpy_helper.from_array(np.array([1, 1, 1, 1], np.float32), "scales")],
            "Resize node grow: mode='cubic'; the parser says: Supported resize modes",
        ),
        (
            [
                helper.make_node("Range", ["start", "limit", "delta"], ["axes"]),
                helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=1),
            ],
            [
                numpy_helper.from_array(np.array(value, np.int64), name)
                for name, value in (("start", 2), ("limit", 4), ("delta", 1))
            ],
            "ReduceMean node mean: input 1 (axes) is computed at run time; the parser says: `axes` must be an initializer",
        ),
        (
            [helper.make_node("TopK", ["x", "k"], ["y", "i"], name="top", sorted=0)],
            [numpy_helper.from_array(np.array([2], np.int64), "k")],
            "TopK node top: sorted=0",
        ),
        (
            [
                helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], name="q"),
                helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], name="dq"),
            ],
            [SCALE, numpy_helper.from_array(np.array(0, np.uint8), "zero")],
            "QuantizeLinear node q: quantized type UINT8",
        ),
        (
            [
                helper.make_node("QuantizeLinear", ["x", "scale"], ["q"], name="q"),
                helper.make_node("DequantizeLinear", ["q", "scale"], ["y"], name="dq"),
            ],
            [SCALE],
            "QuantizeLinear node q: no zero point, so ONNX's default UINT8",
        ),
    ],
    ids=["resize-cubic", "reduce-axes-at-run-time", "topk-unsorted", "uint8-qdq", "qdq-without-zero-point"],
)
def test_restrictions_of_the_10x_table_fail(tmp_path, nodes, initializers, fragment):
    outputs = [tensor("y", shape=("N", 3, 4, 2) if nodes[-1].op_type == "TopK" else ("N", 3, 4, 4))]
    if nodes[-1].op_type == "TopK":
        outputs.append(tensor("i", TensorProto.INT64, ("N", 3, 4, 2)))
    if nodes[-1].op_type == "ReduceMean":
        outputs = [tensor("y", shape=("N", 3, 1, 1))]
    path = save(tmp_path, nodes, [tensor("x")], outputs, initializers)
    assert_one_line_error(call_aib("check", path), "not ready for TensorRT", fragment)


@pytest.mark.parametrize(
    "node, opset, initializers",
    [
        (
            helper.make_node("LayerNormalization", ["x", "w"], ["y"], axis=-1),
            18,
            [numpy_helper.from_array(np.ones(4, np.float32), "w")],
        ),
        (helper.make_node("Gelu", ["x"], ["y"]), 20, []),
        (helper.make_node("Hardmax", ["x"], ["y"]), 18, []),
        (helper.make_node("IsInf", ["x"], ["y"]), 18, []),
        (helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1), 18, [AXES]),
    ],
    ids=["layernorm", "gelu", "hardmax", "isinf", "reduce-axes-initializer"],
)
def test_operators_tensorrt_10_takes_pass(tmp_path, node, opset, initializers):
    out_shape = ("N", 3, 1, 1) if node.op_type == "ReduceMean" else ("N", 3, 4, 4)
    out_type = TensorProto.BOOL if node.op_type == "IsInf" else TensorProto.FLOAT
    path = save(tmp_path, [node], [tensor("x")], [tensor("y", out_type, out_shape)], initializers, opset=opset)
    result = call_aib("check", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asymmetric_quantization_fails(tmp_path):
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "scale")
    zero = numpy_helper.from_array(np.array(3, np.int8), "zero")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], name="q"),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], name="dq"),
    ]
    path = save(tmp_path, nodes, [tensor("x")], [tensor("y")], [scale, zero])
    assert_one_line_error(call_aib("check", path), "QuantizeLinear node q: zero point zero is not a constant 0")


def test_a_file_that_is_not_onnx_gets_one_line(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not onnx at all")
    assert_one_line_error(call_aib("check", path), str(path), "not an ONNX file")


def test_a_file_onnx_runtime_refuses_is_one_finding_not_a_traceback(tmp_path):
    half = numpy_helper.from_array(np.ones((1, 3, 4, 4), np.float16), "half")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "half"], ["y"], name="clash")], "g", [tensor("x")], [tensor("y")], initializer=[half]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = tmp_path / "clash.onnx"
    onnx.save(model, str(path))  # no checker: the float16/float32 clash is the point
    assert_one_line_error(call_aib("check", path), "dynamic batch: ONNX Runtime cannot run it to check")

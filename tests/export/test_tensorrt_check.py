"""`aib check`: TensorRT readiness read off real ONNX files, without TensorRT."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.helpers.cli import assert_one_line_error, run_aib


def save(tmp_path, nodes, inputs, outputs, initializers=(), name="model.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def tensor(name, elem_type=TensorProto.FLOAT, shape=("N", 3, 4, 4)):
    return helper.make_tensor_value_info(name, elem_type, list(shape))


def test_demo_model_float_and_int8_are_ready(demo_onnx, tmp_path):
    result = run_aib("check", demo_onnx)
    assert result.returncode == 0, result.stderr
    assert "ready for TensorRT" in result.stdout and "ArgMin x1" in result.stdout
    assert "attention_index int32 rank 4" in result.stdout and "ran at batch 1 and 3" in result.stdout
    int8 = tmp_path / "demo.int8.onnx"
    assert run_aib("export", "int8", demo_onnx, "--calibration", "synthetic", "-o", int8, "--count", "16",
                   "--held-out", "16", "--float", "head").returncode == 0  # fmt: skip
    result = run_aib("check", int8)
    assert result.returncode == 0, result.stderr
    assert "Q/DQ nodes, all zero points 0" in result.stdout


def test_unsupported_op_is_named(tmp_path):
    path = save(tmp_path, [helper.make_node("Hardmax", ["x"], ["y"], name="pick_one")], [tensor("x")], [tensor("y")])
    result = run_aib("check", path)
    assert_one_line_error(result, "not ready for TensorRT", "Hardmax (node pick_one)")
    assert "FAIL operators" in result.stdout


def test_fixed_batch_fails(tmp_path):
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [tensor("x", shape=(2, 3, 4, 4))],
                [tensor("y", shape=(2, 3, 4, 4))])  # fmt: skip
    assert_one_line_error(run_aib("check", path), "dynamic batch", "first dimension fixed or missing in: x, y")


def test_resize_with_sizes_computed_at_run_time_fails(tmp_path):
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Resize", ["x", "", "", "shape"], ["y"], name="grow", mode="nearest"),
    ]
    path = save(tmp_path, nodes, [tensor("x")], [tensor("y")])
    assert_one_line_error(run_aib("check", path), "Resize node grow: input 3 (shape) is computed at run time")


def test_asymmetric_quantization_fails(tmp_path):
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "scale")
    zero = numpy_helper.from_array(np.array(3, np.int8), "zero")
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], name="dq")]  # fmt: skip
    path = save(tmp_path, nodes, [tensor("x")], [tensor("y")], [scale, zero])
    assert_one_line_error(run_aib("check", path), "QuantizeLinear node q: zero point zero is not a constant 0")


@pytest.mark.parametrize("content, fragment", [(b"not onnx at all", "not an ONNX file"), (None, "file not found")])
def test_bad_files_get_one_line(tmp_path, content, fragment):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    assert_one_line_error(run_aib("check", path), str(path), fragment)

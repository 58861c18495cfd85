"""Each strongly typed legality rule fails the small graph that breaks it, and only its own rule."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from aib_deploy.export.typing_lint import RULES, lint


def model_of(nodes, initializers, inputs, outputs):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, kind, [1, 4]) for name, kind in inputs],
        [helper.make_tensor_value_info(name, kind, [1, 4]) for name, kind in outputs],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def dequantized_weights(data, scale, reader):
    """Constant int weights through DequantizeLinear into `reader` (an op taking x and the weights)."""
    return model_of(
        [
            helper.make_node("DequantizeLinear", ["w", "s", "z"], ["w_dq"], name="dq"),
            helper.make_node(reader, ["x", "w_dq"], ["y"], name="reader"),
        ],
        {"w": data, "s": scale, "z": np.zeros((), data.dtype)},
        [("x", TensorProto.FLOAT)],
        [("y", TensorProto.FLOAT)],
    )


BROKEN = {
    "topological order": model_of(
        [helper.make_node("Relu", ["a"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["a"], name="early")],
        {},
        [("x", TensorProto.FLOAT)],
        [("y", TensorProto.FLOAT)],
    ),
    "one float type per op": model_of(
        [
            helper.make_node("Cast", ["x"], ["h"], name="half", to=TensorProto.FLOAT16),
            helper.make_node("Add", ["x", "h"], ["y"], name="mixed"),
        ],
        {},
        [("x", TensorProto.FLOAT)],
        [("y", TensorProto.FLOAT)],
    ),
    "weight Q/DQ placement": dequantized_weights(np.ones(4, np.int8), np.float32(0.1), "Add"),
    "quantized types": dequantized_weights(np.ones((4, 4), np.int32), np.float32(0.1), "MatMul"),
    "quantization scales": dequantized_weights(np.ones((4, 4), np.int8), np.float32(-0.1), "MatMul"),
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_a_graph_that_breaks_one_rule_fails_that_rule(rule):
    verdicts = {verdict.rule.name: verdict for verdict in lint(BROKEN[rule])}
    assert not verdicts[rule].ok
    assert verdicts[rule].rule.source.startswith("https://") and verdicts[rule].rule.source in verdicts[rule].detail()
    structural = {"full ONNX check"}  # the checker also refuses graphs the other rules find
    assert all(verdict.ok for name, verdict in verdicts.items() if name not in {rule, *structural}), verdicts


def test_a_valid_int8_weight_passes_every_rule():
    verdicts = lint(dequantized_weights(np.ones((4, 4), np.int8), np.float32(0.1), "MatMul"))
    assert [verdict.rule.name for verdict in verdicts if not verdict.ok] == []
    assert len(verdicts) == len(RULES)


def test_many_problems_are_named_three_at_a_time():
    nodes = [helper.make_node("Relu", [f"t{i + 1}"], [f"t{i}"], name=f"n{i}") for i in range(6)]
    model = model_of(nodes, {}, [("t6", TensorProto.FLOAT)], [("t0", TensorProto.FLOAT)])
    (order,) = [verdict for verdict in lint(model) if verdict.rule.name == "topological order"]
    assert len(order.problems) == 5 and "and 2 more" in order.detail() and "\n" not in order.detail()

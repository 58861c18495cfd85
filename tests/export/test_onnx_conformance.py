"""Every conformance case survives checkpoint file -> ONNX -> ONNX Runtime, and the contract holds."""

import json
import os

import numpy as np
import onnx
import onnxruntime
import pytest

from aib_deploy.card.model_card import ModelCard
from aib_deploy.compare import compare_outputs
from aib_deploy.contract import MODEL_CARD_KEY
from aib_deploy.export.onnx_export import PARITY_BATCHES, check_onnx, compare_with_pytorch
from tests.helpers.checkpoint_files import CASES, FAMILY_CASES, case_reference
from tests.helpers.cli import call_aib
from tests.helpers.onnx_files import assert_valid_onnx
from tests.helpers.schemas import validated


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, case_onnx):
    name = request.param
    exported = case_onnx(name)
    return name, exported.loaded, exported.card, exported.path


def test_file_passes_the_full_onnx_check_and_polygraphy_lint(exported):
    check_onnx(exported[3])
    if exported[0] in FAMILY_CASES:  # Polygraphy's lint once per family (its qt case holds the plain graph too)
        assert_valid_onnx(exported[3])
    model = onnx.load(str(exported[3]))
    producer = {tensor: node for node in model.graph.node for tensor in node.output}
    for node in model.graph.node:  # every Conv -> BatchNormalization pair is folded, as TensorRT's INT8 path expects
        if node.op_type == "BatchNormalization":
            assert node.input[0] not in producer or producer[node.input[0]].op_type != "Conv", node.name


def test_onnx_runtime_reproduces_the_paper_outputs(exported):
    name, _loaded, card, path = exported
    reference = case_reference(name)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"images": reference["input"]})))
    expected = {"logits": reference["logits"], "attention": reference.get("att_q", reference["att_mu"])}
    candidate = {"logits": outputs["logits"], "attention": outputs["attention"][:, 0]}
    if card.architecture.quantized:
        expected["attention_index"] = reference["anchor_index"]
        candidate["attention_index"] = outputs["attention_index"][:, 0]
    comparison = compare_outputs(
        expected, candidate, attention_mean=reference["att_mu"], anchors=np.asarray(card.anchors) if card.anchors else None
    )
    assert comparison.passed, comparison.summary()


def test_parity_with_pytorch_at_batch_sizes_other_than_the_traced_one(exported):
    _, loaded, card, path = exported
    results = compare_with_pytorch(path, loaded.model, card, list(PARITY_BATCHES))
    assert [batch for batch, _ in results] == list(PARITY_BATCHES)
    for batch, comparison in results:
        assert comparison.passed, f"batch {batch}: {comparison.summary()}"


def test_graph_follows_the_contract(exported):
    name, _loaded, _card, path = exported
    model = onnx.load(str(path), load_external_data=False)
    (image_input,) = model.graph.input
    dims = image_input.type.tensor_type.shape.dim
    assert image_input.name == "images" and image_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param and not dims[0].HasField("dim_value"), "batch must be dynamic"
    size = CASES[name]["input_size"]
    assert [d.dim_value for d in dims[1:]] == [3, size, size]
    outputs = {output.name: output.type.tensor_type for output in model.graph.output}
    expected = ["logits", "attention"] + (["attention_index"] if CASES[name]["quantized"] else [])
    assert list(outputs) == expected
    assert outputs["logits"].elem_type == onnx.TensorProto.FLOAT
    att_dim = CASES[name]["att_dim"]
    assert [d.dim_value for d in outputs["attention"].shape.dim[1:]] == [1, att_dim, att_dim]
    if "attention_index" in outputs:
        assert outputs["attention_index"].elem_type == onnx.TensorProto.INT32
    # Deterministic inference computes neither the attention scale nor z's scale.
    k = CASES[name]["K"]
    initializer_shapes = [tuple(init.dims) for init in model.graph.initializer]
    assert (1, 1, 3, 3) not in initializer_shapes, "att_module_std must not be in the graph"
    assert not any(shape and shape[0] == 2 * k and len(shape) == 2 for shape in initializer_shapes)


def test_model_card_is_stored_in_metadata(exported):
    name, loaded, card, path = exported
    model = onnx.load(str(path), load_external_data=False)
    props = {prop.key: prop.value for prop in model.metadata_props}
    stored = ModelCard.from_json(props[MODEL_CARD_KEY])
    assert stored == card
    raw = validated(json.loads(props[MODEL_CARD_KEY]), "model_card")
    assert raw["architecture"]["name"] == loaded.arch.name
    assert raw["checkpoint_sha256"] == loaded.checkpoint.sha256 and len(raw["checkpoint_sha256"]) == 64
    assert raw["opset"] == 18 and raw["att_dim"] == CASES[name]["att_dim"]
    assert len(raw["labels"]) == CASES[name]["num_classes"]
    if CASES[name]["quantized"]:
        assert raw["anchors"] == pytest.approx(loaded.model.emb.anchors.tolist())
    options = onnxruntime.SessionOptions()  # only the metadata is read: no need to optimize the graph
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert MODEL_CARD_KEY in session.get_modelmeta().custom_metadata_map


def test_aib_info_describes_the_file_as_its_graph_and_card_declare_it(exported):
    name, loaded, card, path = exported
    result = call_aib("info", path, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    model = onnx.load(str(path), load_external_data=False)
    assert [tensor["name"] for tensor in info["outputs"]] == [output.name for output in model.graph.output]
    assert info["inputs"][0]["shape"][1:] == [3, CASES[name]["input_size"], CASES[name]["input_size"]]
    assert info["model_card"]["architecture"]["name"] == loaded.arch.name and info["precision"] == "fp32"
    assert info["max_batch"] == card.batch_limit == 16


def test_one_step_export_from_the_checkpoint_finds_its_onnx_file(exported, case_checkpoint, tmp_path):
    """`aib export triton CHECKPOINT` on every family: the CHECKPOINT.onnx beside it, exported from that very
    checkpoint (its card says so), is used rather than exported again."""
    name, _, _, path = exported
    checkpoint = tmp_path / f"{name}.pth"
    os.link(case_checkpoint(name), checkpoint)  # links: the CUB files are hundreds of MB
    os.link(path, tmp_path / f"{name}.onnx")
    result = call_aib("export", "triton", checkpoint, "--repository", tmp_path / "models", "--json")
    assert result.returncode == 0, result.stderr
    assert f"using {tmp_path / name}.onnx, exported from {name}.pth before" in result.stderr
    assert json.loads(result.stdout)["models"] == [exported[2].serving_name("fp32")]


def test_tensorrt_readiness_check_passes(exported):
    from aib_deploy.export.tensorrt_check import check_tensorrt_readiness
    from aib_deploy.export.typing_lint import RULES

    findings = check_tensorrt_readiness(exported[3])
    assert len(findings) == 7 + len(RULES) and all(finding.ok for finding in findings), [f for f in findings if not f.ok]
    assert {rule.name for rule in RULES} <= {finding.check for finding in findings}

"""`aib info`: every kind of model file described without running it, as text and as JSON."""

import json

import pytest

from aib_deploy.backends.tensorrt.options import EngineOptions
from aib_deploy.backends.tensorrt.sidecar import engine_sidecar, write_sidecar
from aib_deploy.card.model_card import ModelCard
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.files import file_sha256
from aib_deploy.runtime import load_predictor
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.schemas import validated

CONTRACT = [
    ("logits", "float32", ["batch", 8]),
    ("attention", "float32", ["batch", 1, 16, 16]),
    ("attention_index", "int32", ["batch", 1, 16, 16]),
]


def info_of(path) -> dict:
    result = call_aib("info", path, "--json")
    assert result.returncode == 0, result.stderr
    return validated(json.loads(result.stdout), "info")


def test_an_onnx_file_shows_its_card_tensors_and_hash(demo_onnx):
    info = info_of(demo_onnx)
    assert (info["format"], info["precision"], info["max_batch"]) == ("onnx", "fp32", 32)
    assert info["sha256"] == file_sha256(demo_onnx) and info["onnx"]["opset"] == 18
    assert [(t["name"], t["dtype"], t["shape"]) for t in info["inputs"]] == [("images", "float32", ["batch", 3, 32, 32])]
    assert [(t["name"], t["dtype"], t["shape"]) for t in info["outputs"]] == CONTRACT
    with load_predictor(demo_onnx) as predictor:
        assert ModelCard.from_json(json.dumps(info["model_card"])) == predictor.card
    text = call_aib("info", demo_onnx).stdout
    assert "architecture: wrn_cifar_10_2_qt (wrn_cifar, 8 classes, K=64)" in text
    assert "output attention_index int32 [batch, 1, 16, 16]" in text and "anchors: 20" in text


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_files_show_their_report_and_gate(precision, request):
    path = request.getfixturevalue(f"demo_{precision}")
    info = info_of(path)
    assert info["precision"] == precision and info["quantization"]["precision"] == precision
    assert [(t["name"], t["dtype"]) for t in info["inputs"]] == [("images", "float32")]  # the contract's types
    text = call_aib("info", path).stdout
    assert f"precision: {precision}" in text and f"{precision} report:" in text and "held-out frames" in text


def test_a_checkpoint_shows_what_its_export_would_be(demo_onnx):
    info = info_of(bundled_checkpoint())
    assert info["format"] == "checkpoint" and info["checkpoint"]["layout"] == "state_dict"
    assert info["checkpoint"]["parameters"] > 100_000
    assert info["outputs"] == info_of(demo_onnx)["outputs"] and info["inputs"] == info_of(demo_onnx)["inputs"]


def test_an_engine_is_described_from_its_sidecar_without_tensorrt(demo_fp16, tmp_path):
    engine = tmp_path / "demo.fp16.engine"
    engine.write_bytes(b"serialized engine")
    with load_predictor(demo_fp16) as predictor:
        card = predictor.card
    options = EngineOptions(opt_batch=8, max_batch=16)
    write_sidecar(engine, engine_sidecar(demo_fp16, card, options, "fp16", "11.4.0", "NVIDIA H200", "9.0"))
    info = info_of(engine)
    assert (info["format"], info["precision"], info["max_batch"]) == ("engine", "fp16", 16)
    assert info["engine"]["tensorrt_version"] == "11.4.0" and info["engine"]["profile"]["max"] == 16
    assert [t["name"] for t in info["outputs"]] == [name for name, _, _ in CONTRACT]
    text = call_aib("info", engine).stdout
    assert "engine: tensorrt_version 11.4.0, gpu NVIDIA H200" in text


def test_a_file_that_is_no_model_is_one_line(tmp_path):
    (tmp_path / "notes.onnx").write_text("not a model\n")
    assert_one_line_error(call_aib("info", tmp_path / "notes.onnx"), "not an ONNX file")
    (tmp_path / "model.engine").write_bytes(b"x")
    assert_one_line_error(call_aib("info", tmp_path / "model.engine"), "no sidecar")


@pytest.mark.parametrize(
    "profile, fragment",
    [
        (None, "profile: expected min, opt and max batch sizes of at least 1, got None"),
        ({"min": 1, "opt": 8, "max": "big"}, "profile: expected min, opt and max batch sizes"),
        ({"min": 4, "opt": 2, "max": 8}, "profile: expected min <= opt <= max"),
    ],
    ids=["null", "a string", "out of order"],
)
def test_a_sidecar_with_a_wrong_profile_is_one_line(demo_fp16, tmp_path, profile, fragment):
    engine = tmp_path / "x.engine"
    engine.write_bytes(bytes(100))
    with load_predictor(demo_fp16) as predictor:
        sidecar = engine_sidecar(demo_fp16, predictor.card, EngineOptions(), "fp16", "11.4.0", "NVIDIA H200", "9.0")
    write_sidecar(engine, {**sidecar, "profile": profile})
    assert_one_line_error(call_aib("info", engine), fragment)
    result = call_aib("export", "triton", engine, "--repository", tmp_path / "r", "--backend", "tensorrt")
    assert_one_line_error(result, fragment)

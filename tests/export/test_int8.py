"""`aib export int8` on the demo model: real calibration, real ONNX Runtime sessions."""

import json
import re

import cv2
import numpy as np
import onnx
import pytest

from aib_deploy.contract import MODEL_CARD_KEY
from aib_deploy.export.calibration import calibration_split
from aib_deploy.export.int8 import LATENCY_RUNS, Int8Options, export_int8
from aib_deploy.media.synthetic import make_dataset, write_video
from aib_deploy.runtime import load_predictor
from tests.helpers.cli import assert_error_after_progress, assert_one_line_error, call_aib
from tests.helpers.onnx_files import assert_valid_onnx

SMALL = ("--count", "32", "--held-out", "64")


def card_of(path):
    model = onnx.load(str(path))
    return json.loads({prop.key: prop.value for prop in model.metadata_props}[MODEL_CARD_KEY])


def producers(path):
    model = onnx.load(str(path))
    return model, {tensor: node for node in model.graph.node for tensor in node.output}


@pytest.fixture(scope="module")
def int8_models(demo_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    results = {}
    for region in ("attention-path", "head", "auto"):
        output = folder / f"demo.{region}.int8.onnx"
        result = call_aib("export", "int8", demo_onnx, "--calibration", "synthetic", "-o", output, "--float", region, *SMALL)
        if region == "head":  # about 89 % of the demo's anchor indices survive: below the default gate of 95 %
            assert_error_after_progress(
                result,
                "below the gate (--fail-under top1=0.99,index=0.95)",
                "attention-index agreement",
                "the file and its report in the model card were written",
            )
        else:
            assert result.returncode == 0, result.stderr
        assert "int8 quantizations" in result.stderr and "agreement frames" in result.stderr  # progress, not a tty
        results[region] = (output, result.stdout)
    return results


def test_attention_path_region_keeps_the_map_exact_and_quantizes_the_classifier(int8_models):
    path, stdout = int8_models["attention-path"]
    assert "attention-index agreement 100.00% exact" in stdout and "64 held-out frames" in stdout
    record = card_of(path)["extra"]["quantization"]
    assert record["float_region"] == "attention-path" and record["calibration_frames"] == 32
    assert record["agreement"]["index_exact"] == 1.0 and record["agreement"]["top1"] >= 0.95
    model, producer = producers(path)
    assert sum(node.op_type == "QuantizeLinear" for node in model.graph.node) > 5
    logits_gemm = producer["logits"]
    assert logits_gemm.op_type == "Gemm" and producer[logits_gemm.input[1]].op_type == "DequantizeLinear"
    for output in model.graph.output:  # every output is the float tensor, not a Q/DQ copy
        assert producer[output.name].op_type != "DequantizeLinear", output.name


def test_head_region_quantizes_the_backbone_but_not_the_snap_or_anchor_table(int8_models, demo_onnx):
    path, stdout = int8_models["head"]
    assert "within one anchor step" in stdout
    model, producer = producers(path)
    gather = producer[producer["attention"].input[0]]
    assert gather.op_type == "Gather"
    table = {tensor.name: tensor for tensor in model.graph.initializer}[gather.input[0]]
    assert table.data_type == onnx.TensorProto.FLOAT  # the anchors themselves stay float32
    first_conv = next(node for node in model.graph.node if node.op_type == "Conv")
    assert producer[first_conv.input[0]].op_type == "DequantizeLinear"
    float_nodes = card_of(path)["extra"]["quantization"]["float_nodes"]
    assert float_nodes < card_of(int8_models["attention-path"][0])["extra"]["quantization"]["float_nodes"]
    assert_valid_onnx(path)  # the most quantized of the three
    anchors = card_of(demo_onnx)["anchors"]
    images, _, _ = make_dataset(8, 96, seed=3)
    with load_predictor(path) as predictor:
        for prediction in predictor.predict(list(images)):
            assert prediction.ok
            assert set(np.unique(prediction.attention)) <= set(np.float32(anchors))


def test_auto_region_lies_between_the_fixed_ones_and_meets_its_target(int8_models):
    path, stdout = int8_models["auto"]
    record = card_of(path)["extra"]["quantization"]
    counts = {
        region: card_of(int8_models[region][0])["extra"]["quantization"]["float_nodes"] for region in ("head", "attention-path")
    }
    assert counts["head"] <= record["float_nodes"] <= counts["attention-path"]
    choice = record["float_choice"]
    assert record["float_region"] == "auto" and choice["region"] in ("head", "partial", "attention-path")
    assert choice["calibration_index_agreement"] >= 0.95 and choice["attention_path_nodes"] > 0
    assert f"{choice['int8_attention_nodes']} of {choice['attention_path_nodes']} attention-path nodes in int8" in stdout
    assert record["gate"] == {"top1": 0.99, "index": 0.95} and record["gate_failures"] == []


def test_export_int8_returns_its_timing_and_the_command_prints_it(demo_onnx, int8_models, tmp_path):
    options = Int8Options(count=16, held_out=16, float_region="attention-path", progress=False)
    result = export_int8(demo_onnx, tmp_path / "timed.int8.onnx", options)
    latency = result.latency
    assert latency.float32_ms > 0 and latency.int8_ms > 0 and latency.runs == LATENCY_RUNS
    assert latency.speedup == pytest.approx(latency.float32_ms / latency.int8_ms)
    assert latency.describe().startswith(f"batch-1 latency on this CPU (median of {LATENCY_RUNS}): float32 ")
    assert "latency" not in json.dumps(card_of(tmp_path / "timed.int8.onnx"))  # a figure of this machine, not the file
    for _, stdout in int8_models.values():
        assert re.search(
            r"^batch-1 latency on this CPU \(median of 30\): float32 [\d.]+ ms, int8 [\d.]+ ms \([\d.]+x\)$", stdout, re.MULTILINE
        )


def test_head_below_the_gate_still_writes_its_report(int8_models):
    path, _ = int8_models["head"]
    record = card_of(path)["extra"]["quantization"]
    assert any(failure.startswith("attention-index agreement") for failure in record["gate_failures"])
    assert record["float_choice"]["region"] == "head"


def test_a_gate_of_zero_passes_and_a_bad_gate_is_one_line(demo_onnx, tmp_path):
    output = tmp_path / "head.int8.onnx"
    result = call_aib(
        "export",
        "int8",
        demo_onnx,
        "--calibration",
        "synthetic",
        "-o",
        output,
        "--float",
        "head",
        "--fail-under",
        "top1=0,index=0",
        *SMALL,
    )
    assert result.returncode == 0, result.stderr
    bad = call_aib("export", "int8", demo_onnx, "--calibration", "synthetic", "-o", output, "--fail-under", "index=95")
    assert bad.returncode == 2 and "argument --fail-under: expected KEY=SHARE pairs" in bad.stderr  # while parsing


def test_fewer_frames_than_asked_are_a_warning(demo_onnx, tmp_path):
    folder = tmp_path / "six"
    folder.mkdir()
    for index, image in enumerate(make_dataset(6, 64, seed=2)[0]):
        cv2.imwrite(str(folder / f"{index}.png"), image)
    result = call_aib(
        "export", "int8", demo_onnx, "--calibration", folder, "-o", tmp_path / "o.onnx", "--fail-under", "top1=0,index=0"
    )
    assert result.returncode == 0, result.stderr
    assert "aib: warning: --calibration" in result.stderr and "6 frames, fewer than --count 256 + --held-out 512" in result.stderr
    assert "used 3 for calibration and 3 held out" in result.stderr


def test_calibration_from_a_video_and_a_folder(tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, 20, 96, seed=1)
    calibration, held_out = calibration_split(str(video), 12, 100)
    assert (len(calibration), len(held_out)) == (12, 8)
    folder = tmp_path / "frames"
    folder.mkdir()
    images, _, _ = make_dataset(6, 64, seed=2)
    for index, image in enumerate(images):
        cv2.imwrite(str(folder / f"{index}.png"), image)
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    calibration, held_out = calibration_split(str(folder), 100, 100)
    assert (len(calibration), len(held_out)) == (3, 3)


def test_int8_from_a_video_source(demo_onnx, tmp_path):
    """A file source calibrates on its first frames and checks on the rest. The clip changes scene every 30
    frames: calibrating on two scenes holds on the next two (on one scene alone, top-1 fell to about 56 %)."""
    video = tmp_path / "clip.mp4"
    write_video(video, 120, 96, seed=4)
    output = tmp_path / "video.int8.onnx"
    result = call_aib("export", "int8", demo_onnx, "--calibration", video, "-o", output, "--count", "60")
    assert result.returncode == 0, result.stderr
    assert "60 held-out frames" in result.stdout
    assert card_of(output)["extra"]["quantization"]["calibration_source"] == str(video)


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (("--calibration", "synthetic", "--min-index-agreement", "95"), "expected a share in (0, 1], got 95.0"),
    ],
    ids=["agreement as a percentage"],  # a missing source or --count 0: tests/cli/test_bad_input.py
)
def test_bad_calibration_options_get_one_line(demo_onnx, tmp_path, arguments, fragment):
    result = call_aib("export", "int8", demo_onnx, "-o", tmp_path / "out.onnx", *arguments)
    assert_one_line_error(result, fragment, code=2)  # wrong in itself: a usage error


def test_refuses_to_overwrite_the_float_model(demo_onnx):
    assert_one_line_error(
        call_aib("export", "int8", demo_onnx, "--calibration", "synthetic", "-o", demo_onnx),
        "is an input of this command (MODEL); it would be overwritten",
        code=2,
    )

"""`aib bench`: real runs on ONNX Runtime and PyTorch, with the JSON, CSV and PNG it writes."""

import csv
import importlib.util
import json

import cv2

from aib_deploy.demo.run import bundled_checkpoint
from tests.helpers.cli import assert_one_line_error, call_aib


def test_models_side_by_side_with_json_csv_and_plot(demo_onnx, tmp_path):
    output = tmp_path / "bench"
    result = call_aib(
        "bench", demo_onnx, bundled_checkpoint(), "--batch", "1", "2", "--runs", "3", "--warmup", "1", "--output", output
    )
    assert result.returncode == 0, result.stderr
    assert "p95 ms" in result.stdout and "the speed" in result.stdout and "index agr" in result.stdout
    document = json.loads((output / "bench.json").read_text())
    rows = document["rows"]
    assert {(row["backend"], row["batch"]) for row in rows} == {
        ("onnxruntime-cpu fp32", 1),
        ("onnxruntime-cpu fp32", 2),
        ("pytorch-cpu fp32", 1),
        ("pytorch-cpu fp32", 2),
    }
    for row in rows:
        assert row["median_ms"] <= row["p95_ms"] <= row["p99_ms"] and row["runs"] == 3
        assert row["file"] in (demo_onnx.name, bundled_checkpoint().name)
        assert row["top1_agreement"] == 1.0 and row["index_agreement"] > 0.99  # the same model on two backends
    assert document["environment"]["cpus"] >= 1 and document["environment"]["onnxruntime"]
    with open(output / "bench.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and float(table[0]["p95_ms"]) > 0
    plot = cv2.imread(str(output / "bench.png"))
    assert plot is not None and (plot < 200).any(axis=2).mean() > 0.01  # something drawn on white


def test_suite_builds_the_paper_architectures_and_names_missing_backends(tmp_path):
    output = tmp_path / "suite"
    result = call_aib("bench", "--suite", "vgg_cifar", "--batch", "1", "--runs", "2", "--warmup", "0", "--output", output)
    assert result.returncode == 0, result.stderr
    document = json.loads((output / "bench.json").read_text())
    backends = {row["backend"] for row in document["rows"]}
    assert {
        "pytorch-cpu fp32",
        "onnxruntime-cpu fp32",
        "onnxruntime-cpu int8 (float head)",
        "onnxruntime-cpu int8 (float attention-path)",
    } <= backends
    assert {row["model"] for row in document["rows"]} == {"vgg_cifar_qt"}
    if importlib.util.find_spec("tensorrt") is None:
        assert "TensorRT is not installed" in document["skipped"]["tensorrt int8"]
        assert "skipped tensorrt fp16: TensorRT is not installed" in result.stdout


def test_bad_requests_get_one_line(demo_onnx):
    assert_one_line_error(call_aib("bench"), "give one or more models")

"""`aib bench`: real runs on ONNX Runtime and PyTorch, with the JSON, CSV and PNG it writes."""

import csv
import importlib.util

import cv2

from aib_deploy.bench.measure import spread_warning
from aib_deploy.bench.report import format_rows
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.timing import percentile
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.schemas import validated


def test_models_side_by_side_with_json_csv_and_plot(demo_onnx, tmp_path):
    output = tmp_path / "bench"
    result = call_aib(
        "bench", demo_onnx, bundled_checkpoint(), "--batch", "1", "2", "--runs", "20", "--warmup", "1", "--output", output
    )
    assert result.returncode == 0, result.stderr
    assert "p95 ms" in result.stdout and "the speed" in result.stdout and "index agr" in result.stdout
    assert "on random normal images (not real frames" in result.stdout and "4/4 backend timings" in result.stderr
    document = validated(output / "bench.json", "bench")
    rows = document["rows"]
    assert {(row["backend"], row["batch"]) for row in rows} == {
        ("onnxruntime-cpu fp32", 1),
        ("onnxruntime-cpu fp32", 2),
        ("pytorch-cpu fp32", 1),
        ("pytorch-cpu fp32", 2),
    }
    for row in rows:
        # 20 runs estimate p90 and p95; p99 needs 100
        assert row["median_ms"] <= row["p90_ms"] <= row["p95_ms"] and row["p99_ms"] is None and row["runs"] == 20
        assert row["file"] in (demo_onnx.name, bundled_checkpoint().name)
        assert row["top1_agreement"] == 1.0 and row["index_agreement"] > 0.99  # the same model on two backends
    assert document["environment"]["cpus"] >= 1 and document["environment"]["onnxruntime"]
    with open(output / "bench.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and float(table[0]["p95_ms"]) > 0 and table[0]["p99_ms"] == ""
    plot = cv2.imread(str(output / "bench.png"))
    assert plot is not None and (plot < 200).any(axis=2).mean() > 0.01  # something drawn on white


def test_suite_builds_the_paper_architectures_and_names_missing_backends(tmp_path):
    output = tmp_path / "suite"
    result = call_aib("bench", "--suite", "vgg_cifar", "--batch", "1", "--runs", "2", "--warmup", "0", "--output", output)
    assert result.returncode == 0, result.stderr
    document = validated(output / "bench.json", "bench")
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
    assert_one_line_error(call_aib("bench"), "give one or more models", code=2)


def test_the_table_keeps_long_file_names_whole_and_dashes_what_few_runs_cannot_estimate():
    row = {
        "model": "wrn_cifar_10_2_qt",
        "file": "a_rather_long_model_file_name.attention-path.int8.onnx",
        "backend": "onnxruntime-cpu int8 (float attention-path)",
        "batch": 8,
        "median_ms": 2.0,
        "p90_ms": 2.5,
        "p95_ms": None,
        "p99_ms": None,
        "images_per_s": 4000.0,
        "top1_agreement": 1.0,
        "index_agreement": None,
    }
    header, line = format_rows([row]).splitlines()
    assert row["file"] in line and header.index("file") == line.index(row["file"])
    assert header.index("backend") == line.index(row["backend"]) and line.split()[-6:-4] == ["-", "-"]


def test_a_percentile_needs_enough_runs_and_a_wide_spread_is_named():
    assert percentile([1.0] * 99, 99) is None and percentile([1.0] * 100, 99) == 1.0
    assert percentile([1.0] * 19, 95) is None and percentile([1.0] * 10, 90) == 1.0
    steady = {"backend": "b", "batch": 1, "median_ms": 1.0}
    assert spread_warning(steady, [1.0] * 9 + [1.1]) is None
    warning = spread_warning(steady, [1.0] * 5 + [5.0] * 5)
    assert warning.startswith("aib: warning: b batch 1: p90 5.000 ms is 5.0x the median") and "busy" in warning

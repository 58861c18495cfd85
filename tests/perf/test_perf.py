"""`aib perf` against a real `aib serve` on both protocols (Triton: tests/export/test_triton_server.py)."""

import csv
import json
import time

import pytest

from aib_deploy.perf.report import CSV_COLUMNS
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.schemas import validated
from tests.helpers.server import ServerProcess

QUICK = ("--measurement-interval", "300", "--max-trials", "3")  # figures are not the point here: the plumbing is


@pytest.fixture(scope="module")
def server(demo_onnx):
    running = ServerProcess(demo_onnx, "--token", "secret")
    yield running
    running.stop()


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_kserve_concurrency_sweep_writes_perf_analyzer_columns(server, tmp_path):
    """No model name: the server's only model is found (RepositoryIndex); CSV as perf_analyzer names it."""
    report = tmp_path / "perf.csv"
    result = call_aib("perf", server.address, "--token", "secret", "--concurrency-range", "1:2", "-f", report, *QUICK)
    assert result.returncode == 0, result.stderr
    rows = read_csv(report)
    assert list(rows[0]) == list(CSV_COLUMNS) and [row["Concurrency"] for row in rows] == ["1", "2"]
    for row in rows:
        assert float(row["Inferences/Second"]) > 0 and row["Errors"] == "0"
        assert 0 < float(row["p50 latency"]) <= float(row["p90 latency"]) <= float(row["p99 latency"])
        assert float(row["Server Compute Infer"]) > 0  # the server's own figures (ModelStatistics)
    assert "measuring aib_glyphs_wrn_cifar_10_2_qt_fp32" in result.stdout and "2/2 concurrency levels" in result.stderr


def test_aib_v1_with_encoded_frames_and_json(server):
    result = call_aib("perf", server.address, "--token", "secret", "--protocol", "aib", "--input", "frames", "--json", *QUICK)
    assert result.returncode == 0, result.stderr
    document = validated(json.loads(result.stdout), "command")
    (row,) = document["rows"]
    assert document["model"] == "wrn_cifar_10_2_qt" and row["requests"] > 0 and row["errors"] == 0
    assert row["server_compute_us"] is None  # aib.v1 has no per-model statistics: left empty, not made up


def test_refused_requests_are_counted_and_named(server):
    result = call_aib("perf", server.address, "--token", "wrong", "--json", *QUICK)
    assert "UNAUTHENTICATED" in result.stderr and result.returncode == 1


def test_an_unreachable_server_is_one_line_within_the_connect_timeout():
    started = time.perf_counter()
    result = call_aib("perf", "127.0.0.1:9", "--connect-timeout", "1")
    assert_one_line_error(result, "server 127.0.0.1:9: not reachable within 1 s (--connect-timeout)")
    assert time.perf_counter() - started < 5


def test_a_concurrency_range_is_read_as_perf_analyzer_reads_it():
    from aib_deploy.cli.perf import concurrency_range

    assert concurrency_range("1:16:2") == (1, 3, 5, 7, 9, 11, 13, 15) and concurrency_range("4") == (4,)
    result = call_aib("perf", "127.0.0.1:9", "--concurrency-range", "8:2")
    assert result.returncode == 2 and "--concurrency-range: expected at least 8, got 2" in result.stderr

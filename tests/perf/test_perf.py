"""`aib perf` against a real `aib serve` on both protocols (Triton: tests/export/test_triton_server.py)."""

import contextlib
import csv
import io
import json
import time

import cv2
import numpy as np
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
    report, picture = tmp_path / "perf.csv", tmp_path / "perf.png"
    result = call_aib(
        "perf", server.address, "--token", "secret", "--concurrency-range", "1:2", "-f", report, "--plot", picture, *QUICK
    )
    assert result.returncode == 0, result.stderr
    drawn = cv2.imread(str(picture))  # latency against throughput: both series drawn in their colours
    assert drawn.shape == (480, 720, 3) and (drawn == (180, 119, 31)).all(axis=2).sum() > 50
    assert (drawn == (14, 127, 255)).all(axis=2).sum() > 50
    rows = read_csv(report)
    assert list(rows[0]) == list(CSV_COLUMNS) and [row["Concurrency"] for row in rows] == ["1", "2"]
    for row in rows:
        assert float(row["Inferences/Second"]) > 0 and row["Errors"] == "0"
        # A percentile stays blank below its number of answers (timing.PERCENTILE_MIN_SAMPLES): a loaded machine
        # answers fewer than the 100 that p99 needs.
        latencies = [float(row[f"p{q} latency"]) for q in (50, 90, 95, 99) if row[f"p{q} latency"]]
        assert row["p50 latency"] and 0 < latencies[0] and latencies == sorted(latencies), row
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


def test_open_loop_keeps_the_offered_rate_and_writes_request_rate_columns(server, tmp_path):
    """40 requests/s offered, evenly spaced: the server answers them all at that rate, the client keeps up,
    and the CSV's first column is perf_analyzer's "Request Rate"."""
    report = tmp_path / "rate.csv"
    result = call_aib("perf", server.address, "--token", "secret", "--request-rate-range", "40", "-f", report, "--json", *QUICK)
    assert result.returncode == 0, result.stderr
    (row,) = validated(json.loads(result.stdout), "command")["rows"]
    assert row["concurrency"] is None and row["request_rate"] == 40 and row["errors"] == 0
    assert 30 <= row["inferences_per_s"] <= 50 and row["delayed_share"] <= 0.1, row
    # About 36 answers in the three windows: enough for p95, too few for p99, which is left blank, not made up.
    assert row["requests"] < 100 and row["p99_latency_us"] is None and row["p95_latency_us"] > 0
    assert "percentiles from at least 10 answers (p90), 20 answers (p95), 100 answers (p99)" in result.stderr
    (written,) = read_csv(report)
    assert next(iter(written)) == "Request Rate" and written["Request Rate"] == "40" and "Concurrency" not in written
    assert "1/1 request rates" in result.stderr and "went out late" not in result.stderr


def test_open_loop_says_when_the_client_sets_the_pace(server):
    """One sender cannot offer 5,000 requests/s to a server that takes about a millisecond each: the requests
    go out late, and the row and a warning say the figures measure the client."""
    result = call_aib(
        "perf", server.address, "--token", "secret", "--request-rate-range", "5000", "--max-threads", "1", "--json", *QUICK
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert row["delayed_share"] > 0.5 and row["inferences_per_s"] < 5000, row
    assert "requests/s: " in result.stderr and "went out late (every sender busy)" in result.stderr


def test_a_request_rate_range_is_read_as_perf_analyzer_reads_it():
    from aib_deploy.cli.perf import rate_range

    assert rate_range("100:300:100") == (100, 200, 300) and rate_range("2.5") == (2.5,) and rate_range("1:3") == (1, 2, 3)
    for text, fragment in (("0", "0 < START"), ("5:1", "START <= END"), ("1:5000", "at most 1000 rates")):
        result = call_aib("perf", "127.0.0.1:9", "--request-rate-range", text)
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
    both = call_aib("perf", "127.0.0.1:9", "--request-rate-range", "10", "--concurrency-range", "2")
    assert_one_line_error(both, "--concurrency-range and --request-rate-range: give one", code=2)


@pytest.mark.parametrize("protocol", ["kserve", "aib"])
def test_a_server_that_dies_mid_run_is_one_line_not_a_traceback(demo_onnx, protocol):
    import threading

    from tests.helpers.cli import run_aib

    dying = ServerProcess(demo_onnx)
    threading.Timer(1.5, dying.process.kill).start()
    result = run_aib(
        "perf", dying.address, "--protocol", protocol, "-p", "500", "--concurrency-range", "1:3", "--max-trials", "5"
    )
    dying.stop(signalled=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("aib: error: ") and ("lost while measuring" in error or "requests failed" in error), error


def test_streaming_on_both_protocols_answers_every_request(server):
    """--streaming: each sender holds one bidirectional stream (ModelStreamInfer, StreamFrames), and the
    server's own statistics count the streamed requests."""
    for protocol, model_statistics in (("kserve", True), ("aib", False)):
        result = call_aib(
            "perf",
            server.address,
            "--token",
            "secret",
            "--protocol",
            protocol,
            "--streaming",
            "--concurrency-range",
            "2",
            "--json",
            *QUICK,
        )
        assert result.returncode == 0, result.stderr
        document = validated(json.loads(result.stdout), "command")
        (row,) = document["rows"]
        assert document["streaming"] is True and row["requests"] > 0 and row["errors"] == 0, row
        assert (row["server_compute_us"] is not None) == model_statistics


def write_frames(folder, sides: list[int]) -> None:
    folder.mkdir()
    for index, side in enumerate(sides):
        picture = np.full((side, side, 3), 40 * index, np.uint8)
        cv2.imwrite(str(folder / f"frame_{index}.{'png' if index % 2 else 'jpg'}"), picture)


def test_real_frames_go_in_turn_and_a_frame_the_server_refuses_fails_alone(demo_onnx, tmp_path):
    """Three files, one over the server's pixel limit: a third of the requests fail, by its reason, on both
    protocols and both kinds of call, and the others are answered."""
    folder = tmp_path / "frames"
    write_frames(folder, [64, 512, 96])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # skipped with a warning, the run goes on
    strict = ServerProcess(demo_onnx, "--max-pixels", "100000")
    try:
        for protocol, streaming in (("kserve", ()), ("aib", ("--streaming",))):
            result = call_aib(
                "perf", strict.address, "--protocol", protocol, "--input", "frames", "--input-data", folder, *streaming,
                "--allow-failures", "--json", *QUICK,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            (row,) = json.loads(result.stdout)["rows"]
            share = row["errors"] / (row["errors"] + row["requests"])
            assert 0.25 <= share <= 0.4 and "100000" in row["first_error"], row
            assert f"3 frames of {folder}, " in result.stderr
            assert f"aib: warning: --input-data: skipped image {folder / 'broken.png'}: " in result.stderr
    finally:
        strict.stop()


def test_a_video_s_frames_go_as_raw_pixels_over_aib_v1(server, tmp_path):
    from aib_deploy.media.synthetic import write_video

    video = tmp_path / "clip.mp4"
    write_video(video, frames=5, size=48, seed=1)
    result = call_aib("perf", server.address, "--token", "secret", "--protocol", "aib", "--input-data", video, "--json", *QUICK)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert row["requests"] > 0 and row["errors"] == 0
    assert f"5 frames of {video}, unary)" in result.stderr


def test_real_frames_as_kserve_images_and_unreadable_sources_are_one_line(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    refused = call_aib("perf", "127.0.0.1:9", "--input-data", tmp_path / "frames")
    assert_one_line_error(refused, "--input-data: KServe images are tensors normalized", "--input frames", code=2)
    broken = call_aib("perf", "127.0.0.1:9", "--input", "frames", "--input-data", tmp_path / "frames")
    assert_one_line_error(broken, f"image {tmp_path / 'frames' / 'broken.png'}")
    missing = call_aib("perf", "127.0.0.1:9", "--input", "frames", "--input-data", tmp_path / "none")
    assert_one_line_error(missing, "not found")


def test_real_frames_hold_at_most_the_byte_limit_and_keep_only_what_requests_carry(tmp_path, monkeypatch):
    from aib_deploy.perf import frames

    folder = tmp_path / "frames"
    write_frames(folder, [64, 64, 64])  # 12,288 bytes each as raw pixels
    monkeypatch.setattr(frames, "MAX_INPUT_BYTES", 30_000)
    raw = frames.input_frames(str(folder), raw=True)
    assert len(raw) == 2 and all(frame.encoded == b"" and frame.pixels.shape == (64, 64, 3) for frame in raw)
    encoded = frames.input_frames(str(folder), raw=False)
    assert len(encoded) == 3 and all(frame.pixels is None for frame in encoded)
    assert encoded[1].encoded == (folder / "frame_1.png").read_bytes()  # a file goes as its own bytes


def test_a_fifo_as_input_data_is_refused_at_once_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "frames.png"
    os.mkfifo(fifo)
    result = call_aib("perf", "127.0.0.1:9", "--input", "frames", "--input-data", fifo)
    assert_one_line_error(result, f"input {fifo}: not a regular file")


def test_a_frame_too_large_for_a_grpc_message_is_skipped_by_name(tmp_path):
    from aib_deploy.perf.frames import input_frames

    folder = tmp_path / "frames"
    write_frames(folder, [64, 3400])  # 3400 x 3400 raw pixels: 34.7 MB, over gRPC's 32 MiB
    with contextlib.redirect_stderr(io.StringIO()) as said:
        (kept,) = input_frames(str(folder), raw=True)
    assert kept.name.endswith("frame_0.jpg") and "frame_1.png: 34680000 bytes, over the 32 MiB" in said.getvalue()

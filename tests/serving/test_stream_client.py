"""`aib stream` and its client against a real server: output files, reconnects, tokens."""

import json
import socket
import threading
import time

import cv2

from aib_deploy.media.synthetic import make_dataset, write_video
from aib_deploy.serving.client import FrameStreamer
from tests.helpers.cli import assert_error_after_progress, assert_one_line_error, run_aib
from tests.helpers.results import read_results
from tests.helpers.server import ServerProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_stream_command_writes_video_results_and_latency(demo_onnx, tmp_path):
    server = ServerProcess(demo_onnx)
    try:
        video = tmp_path / "clip.mp4"
        truth = write_video(video, frames=40, size=128, seed=8)
        output, results = tmp_path / "annotated.mp4", tmp_path / "results.jsonl"
        run = run_aib("stream", server.address, video, "-o", output, "--results", results)
        assert run.returncode == 0, run.stderr
        assert "frames sent 40, answered 40, errors 0, reconnects 0" in run.stdout
        assert "end-to-end latency ms: p50" in run.stdout
        model, records = read_results(results)
        assert model["backend"] == "onnxruntime" and len(model["anchors"]) == 20
        assert [r["frame_index"] for r in records] == list(range(40)) and all(r["batch_size"] >= 1 for r in records)
        assert "connecting to" in run.stderr and "connected: wrn_cifar_10_2_qt on onnxruntime" in run.stderr
        assert sum(r["top_k"][0]["class_index"] == label for r, label in zip(records, truth.labels)) >= 36
        assert int(cv2.VideoCapture(str(output)).get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    finally:
        server.stop()


def test_client_survives_a_server_restart_and_goes_on(demo_onnx):
    port = free_port()
    frames, _, _ = make_dataset(8, 64, seed=1)
    total = 150

    def paced():
        for index in range(total):
            time.sleep(0.01)
            yield index, frames[index % len(frames)]

    first = ServerProcess(demo_onnx, "--port", str(port))
    answered: list[int] = []
    lost: list[int] = []

    def on_result(image, result, latency):
        (lost if result.error else answered).append(result.frame_index)

    streamer = FrameStreamer(f"127.0.0.1:{port}", raw=True)
    worker = threading.Thread(target=lambda: streamer.run(paced(), on_result))
    worker.start()
    deadline = time.monotonic() + 60
    while len(answered) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(answered) >= 30, "the first server never answered"
    first.process.kill()
    first.process.wait()
    time.sleep(0.5)
    second = ServerProcess(demo_onnx, "--port", str(port))
    try:
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert streamer.stats.reconnects == 1
        assert sorted(answered + lost) == list(range(total)), "every frame is answered or reported lost"
        assert len(lost) <= streamer.window and answered[-1] == total - 1
    finally:
        second.stop()


def test_a_wrong_or_missing_token_is_one_line_that_says_which(demo_onnx, tmp_path):
    server = ServerProcess(demo_onnx, "--token", "right")
    try:
        video = tmp_path / "clip.mp4"
        write_video(video, frames=5, size=64, seed=2)
        result = run_aib("stream", server.address, video, "--token", "wrong")
        assert_error_after_progress(result, "refused the token (UNAUTHENTICATED)")
        result = run_aib("stream", server.address, video)
        assert_error_after_progress(result, "asks for a token and none was given")
    finally:
        server.stop()


def test_results_to_standard_output_keep_the_summary_off_it(demo_onnx, tmp_path):
    server = ServerProcess(demo_onnx)
    try:
        video = tmp_path / "clip.mp4"
        write_video(video, frames=6, size=96, seed=2)
        run = run_aib("stream", server.address, video, "--results", "-")
        assert run.returncode == 0, run.stderr
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        assert [line["kind"] for line in lines] == ["model"] + ["frame"] * 6
        assert "frames sent 6" in run.stderr
    finally:
        server.stop()


def test_connection_problems_are_one_line_and_do_not_wait_silently(tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, frames=3, size=64, seed=3)
    port, started = free_port(), time.monotonic()
    result = run_aib("stream", f"127.0.0.1:{port}", video, "--connect-timeout", "1")
    assert time.monotonic() - started < 15
    *said, error = result.stderr.strip().splitlines()
    assert result.returncode == 1 and said == [f"aib stream: connecting to 127.0.0.1:{port} (up to 1 s)"]
    assert "not reachable within 1 s (--connect-timeout), tried without TLS" in error
    assert_one_line_error(run_aib("stream", "127.0.0.1:1", "7"), "camera 7: cannot open it")


def test_frames_the_server_refuses_are_counted_and_fail_the_exit_code(demo_onnx, tmp_path):
    """Each refused frame is named and the stream goes on; then a count, and exit 1: every frame failed, so
    --allow-failures does not make it a success either."""
    server = ServerProcess(demo_onnx, "--max-pixels", "4096")  # the clip's 128 x 128 frames are over it
    try:
        video = tmp_path / "clip.mp4"
        write_video(video, frames=5, size=128, seed=3)
        result = run_aib("stream", server.address, video, "--results", tmp_path / "results.jsonl")
        assert "frames sent 5, answered 5, errors 5" in result.stdout
        assert_error_after_progress(result, "all 5 frames failed")
        _, records = read_results(tmp_path / "results.jsonl")
        assert len(records) == 5 and all("pixels" in record["error"] for record in records)
        allowed = run_aib("stream", server.address, video, "--allow-failures")  # allows some failures, not all
        assert_error_after_progress(allowed, "all 5 frames failed")
    finally:
        server.stop()


def test_a_tls_root_that_is_not_pem_is_one_line_not_a_wait(tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, frames=2, size=64, seed=2)
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    started = time.perf_counter()
    result = run_aib("stream", "127.0.0.1:9", video, "--tls-ca", tmp_path / "ca.pem")
    assert_error_after_progress(result, "--tls-ca", "not a PEM certificate")
    assert time.perf_counter() - started < 20  # not the 30 s connect timeout


def test_a_bare_ipv6_host_is_bracketed(demo_onnx):
    server = ServerProcess(demo_onnx, "--host", "::1")
    try:
        assert server.address.startswith("[::1]:")
    finally:
        server.stop()


def test_a_source_without_a_frame_is_one_line_before_connecting(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture at all")  # OpenCV opens it as a one-image "video" and reads nothing
    result = run_aib("stream", f"127.0.0.1:{free_port()}", junk)  # no server there: the file fails first
    assert_one_line_error(result, f"video {junk}: no frame could be decoded")
    assert "connecting" not in result.stderr


def test_a_source_that_breaks_mid_stream_ends_the_stream_after_its_answers(demo_onnx):
    """The frames sent before the source broke are all answered; then its error, not gRPC's 'Exception
    iterating requests', reaches the caller."""
    from aib_deploy.errors import AibError

    server = ServerProcess(demo_onnx)
    images, _, _ = make_dataset(3, 64, seed=4)

    def source():
        yield from enumerate(images)
        raise AibError("video clip.mp4: broke after 3 frames")

    answered = []
    try:
        streamer = FrameStreamer(server.address, window=2)
        try:
            streamer.run(source(), lambda image, result, latency: answered.append(result.frame_index))
            raise AssertionError("the source's error was swallowed")
        except AibError as error:
            assert str(error) == "video clip.mp4: broke after 3 frames"
        assert answered == [0, 1, 2] and streamer.stats.errors == 0
    finally:
        server.stop()


def test_outputs_that_cannot_be_written_fail_before_connecting(tmp_path):
    """/proc refuses new folders even to root: the flag is named, and no server is needed to find out."""
    video = tmp_path / "clip.mp4"
    write_video(video, frames=3, size=64, seed=2)
    address = f"127.0.0.1:{free_port()}"
    for flag, value in (("-o", "/proc/aib-nowhere/s.mp4"), ("--results", "/proc/aib-nowhere/r.jsonl")):
        result = run_aib("stream", address, video, flag, value)
        assert_one_line_error(result, f"{flag} {value}: cannot create /proc/aib-nowhere")
        assert "connecting" not in result.stderr


def test_tls_against_a_plain_server_is_one_line_without_grpc_log_lines(demo_onnx, tmp_path):
    from tests.helpers.server import self_signed

    cert, _ = self_signed(tmp_path)
    server = ServerProcess(demo_onnx)  # no TLS
    try:
        video = tmp_path / "clip.mp4"
        write_video(video, frames=2, size=64, seed=2)
        result = run_aib("stream", server.address, video, "--tls-ca", cert, "--connect-timeout", "2")
    finally:
        server.stop()
    assert_error_after_progress(result, "not reachable within 2 s (--connect-timeout), tried with TLS")
    assert len(result.stderr.strip().splitlines()) == 2  # "connecting to ...", then the error
    assert "Handshake" not in result.stderr and "ssl_transport_security" not in result.stderr, result.stderr


def test_stream_never_writes_over_its_source_or_one_output_over_the_other(tmp_path):
    """Found by an independent pass: `-o` over the video being read replaced it, exit 0."""
    video = tmp_path / "clip.mp4"
    write_video(video, frames=3, size=64, seed=2)
    before = video.read_bytes()
    address = f"127.0.0.1:{free_port()}"
    assert_one_line_error(run_aib("stream", address, video, "-o", video), "-o", "is an input of this command", code=2)
    assert_one_line_error(run_aib("stream", address, video, "--results", video), "--results", "is an input", code=2)
    same = tmp_path / "same.mp4"
    result = run_aib("stream", address, video, "-o", same, "--results", same)
    assert_one_line_error(result, "the same file; one would overwrite the other", code=2)
    assert video.read_bytes() == before and sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4"]

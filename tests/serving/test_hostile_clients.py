"""`aib serve` against clients that try to stall, lock out or crash it, and operators who mistype:
the real server in its own process on loopback, stock gRPC clients."""

import re
import shutil
import signal
import socket
import struct
import threading
import time
import urllib.request
import zlib

import grpc
import numpy as np
import onnx
import pytest

from aib_deploy.contract import MODEL_CARD_KEY
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import attention_pb2_grpc as pb_grpc
from tests.helpers.cli import assert_one_line_error, run_aib
from tests.helpers.server import ServerProcess, encoded, is_serving, raw, self_signed

BOMB_SIDE = 20_000  # a 20000 x 20000 gray PNG: 400 MB decoded, about 400 KB on the wire


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    """A real decompression bomb: a valid PNG whose rows are all zeros."""
    compressor = zlib.compressobj(9)
    row = bytes(BOMB_SIDE + 1)  # filter byte + pixels
    body = b"".join(compressor.compress(row * 100) for _ in range(BOMB_SIDE // 100)) + compressor.flush()
    header = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def frames():
    return list(make_dataset(8, 96, seed=12)[0])


def unary_gaps(stub, stop: threading.Event, gaps: list) -> None:
    """Unary calls every 5 ms until `stop`; the longest wait between two answers goes into `gaps`."""
    last, longest = time.monotonic(), 0.0
    while not stop.is_set():
        stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
        time.sleep(0.005)
    gaps.append(longest)


def test_a_png_bomb_is_refused_from_its_header_without_stalling_anyone(demo_onnx, png_bomb, frames):
    running = ServerProcess(demo_onnx)
    try:
        stop, gaps = threading.Event(), []
        prober = threading.Thread(target=unary_gaps, args=(running.stub, stop, gaps))
        prober.start()
        requests = [pb.Frame(frame_index=i, encoded=png_bomb) for i in range(6)]
        requests.append(pb.Frame(frame_index=6, encoded=encoded(frames[0], ".png")))
        results = list(running.stub.StreamFrames(iter(requests), timeout=60))
        time.sleep(0.2)
        stop.set()
        prober.join()
        assert [r.frame_index for r in results] == list(range(7))
        assert all(f"{BOMB_SIDE}x{BOMB_SIDE} exceeds the limit of 1000000 pixels (not decoded)" in r.error for r in results[:6])
        assert results[6].error == "" and results[6].top_k
        assert gaps[0] < 0.25, f"unary calls waited {gaps[0] * 1e3:.0f} ms"
        assert running.peak_rss_mb() < 300
    finally:
        running.stop()


def test_only_jpeg_and_png_are_decoded(demo_onnx, frames):
    running = ServerProcess(demo_onnx)
    try:
        requests = [
            pb.Frame(frame_index=i, encoded=encoded(frames[0], suffix))
            for i, suffix in enumerate((".bmp", ".webp", ".tiff", ".jpg", ".png"))
        ]
        results = list(running.stub.StreamFrames(iter(requests), timeout=60))
        for result, kind in zip(results, ("BMP", "WEBP", "TIFF")):
            assert f"{kind} is not accepted; expected JPEG or PNG" in result.error
        assert results[3].error == results[4].error == ""
    finally:
        running.stop()


def test_a_second_server_on_a_busy_port_exits_with_one_line(demo_onnx):
    running = ServerProcess(demo_onnx)
    try:
        result = run_aib("serve", demo_onnx, "--port", running.port)
        assert_one_line_error(result, f"--port {running.port}: cannot listen on 127.0.0.1:{running.port}")
        assert is_serving(running.channel)
    finally:
        running.stop()


@pytest.fixture(scope="module")
def mislabelled_onnx(demo_onnx, tmp_path_factory):
    """The demo model with one label fewer in its card than it has classes."""
    import json

    model = onnx.load(str(demo_onnx))
    for prop in model.metadata_props:
        if prop.key == MODEL_CARD_KEY:
            card = json.loads(prop.value)
            card["labels"] = card["labels"][:-1]
            prop.value = json.dumps(card)
    path = tmp_path_factory.mktemp("mislabelled") / "demo.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--max-delay-ms", "-5"], "--max-delay-ms: expected 0 to 10000, got -5"),
        (["--max-delay-ms", "1e300"], "--max-delay-ms: expected 0 to 10000, got 1e+300"),
        (["--idle-timeout-s", "0"], "--idle-timeout-s: expected seconds above 0, at most 86400, got 0"),
        (["--write-timeout-s", "-1"], "--write-timeout-s: expected seconds above 0, at most 86400, got -1"),
        (["--max-inflight-mb", "1"], "--max-inflight-mb: expected at least one message (32 MB)"),
        (["--max-inflight-mb", "1e300"], "--max-inflight-mb: expected at most 1048576 MB, got 1e+300"),
        (["--decode-memory-mb", "0.5"], "--decode-memory-mb: expected 1 to 1048576 MB, got 0.5"),
        (["--token", "ünï"], "--token: a token is printable ASCII (gRPC metadata)"),
        (["--port", "45123", "--metrics-port", "45123"], "--metrics-port 45123: the same port as --port"),
        (["--token", "a\nb"], "--token: a token is printable ASCII (gRPC metadata)"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_impossible_flags_are_one_line(demo_onnx, flags, fragment):
    """Values the server's options refuse (out of range, empty) exit 2, as a usage error; what the flag's type
    refuses while parsing (not a number, below 1, a port above 65535) is in tests/cli/test_bad_input.py."""
    assert_one_line_error(run_aib("serve", demo_onnx, "--port", "0", *flags), fragment, code=2)


def test_startup_problems_are_one_line(demo_onnx, mislabelled_onnx, taken_port, tmp_path):
    import os
    import subprocess

    from tests.helpers.cli import AIB

    assert_one_line_error(
        run_aib("serve", demo_onnx, "--port", "0", "--metrics-port", taken_port),
        f"--metrics-port {taken_port}: cannot listen on 127.0.0.1:{taken_port}",
    )
    assert_one_line_error(
        run_aib("serve", demo_onnx, "--port", "0", "--host", "192.0.2.1"),  # TEST-NET-1: never this machine's
        "--host 192.0.2.1: not an address of this machine",
    )
    assert_one_line_error(
        run_aib("serve", mislabelled_onnx, "--port", "0"), "model card is not valid (7 labels for a model of 8 classes"
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    assert_one_line_error(
        run_aib("serve", demo_onnx, "--port", "0", "--tls-cert", garbage, "--tls-key", garbage),
        f"--tls-cert {garbage}: not a PEM certificate chain",
    )
    empty = subprocess.run(
        [AIB, "serve", str(demo_onnx), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "AIB_TOKEN": ""},
        timeout=120,
    )
    assert_one_line_error(empty, "$AIB_TOKEN: empty", code=2)  # a setting wrong in itself, as --token ""


def test_a_mismatched_tls_pair_names_both_files(demo_onnx, tmp_path):
    cert, _ = self_signed(tmp_path / "a")
    _, other_key = self_signed(tmp_path / "b")
    result = run_aib("serve", demo_onnx, "--port", "0", "--tls-cert", cert, "--tls-key", other_key)
    assert_one_line_error(result, f"--tls-cert {cert} / --tls-key {other_key}: the key does not belong to the certificate")


def test_full_slots_leave_health_and_info_answering_and_idle_streams_are_closed(demo_onnx, frames):
    running = ServerProcess(demo_onnx, "--idle-timeout-s", "2")  # the default --max-streams: 64
    release = threading.Event()

    def idle():
        release.wait(20)
        return
        yield  # a request iterator that sends nothing

    try:
        idle_calls = [running.stub.StreamFrames(idle(), timeout=30) for _ in range(64)]
        time.sleep(0.5)
        assert is_serving(running.channel)
        assert running.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5).architecture
        with pytest.raises(grpc.RpcError) as refused:
            running.stub.Predict(pb.Frame(raw=raw(frames[0])), timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 64 model calls (--max-streams)" in refused.value.details()
        for call in idle_calls:
            with pytest.raises(grpc.RpcError) as closed:
                list(call)
            assert closed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "no frame for 2 s (--idle-timeout-s)" in closed.value.details()
        assert running.stub.Predict(pb.Frame(raw=raw(frames[0])), timeout=10).top_k  # the slots came back
    finally:
        release.set()
        running.stop()


def frame_bytes(stream_id: bytes, frame_index: int) -> bytes:
    """A Frame on the wire, written by hand so `stream_id` can be invalid UTF-8."""
    return b"\x0a" + bytes([len(stream_id)]) + stream_id + b"\x10" + bytes([frame_index])


def test_messages_that_do_not_parse_get_invalid_argument(demo_onnx, frames):
    running = ServerProcess(demo_onnx)
    try:
        identity = {"request_serializer": None, "response_deserializer": pb.FrameResult.FromString}
        predict = running.channel.unary_unary("/aib.v1.AttentionService/Predict", **identity)
        for garbage in (frame_bytes(b"\xff\xfe", 1), b"\xff\xff\xff\xff"):
            with pytest.raises(grpc.RpcError) as refused:
                predict(garbage, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "is not a valid aib.v1.Frame" in refused.value.details() and "Traceback" not in refused.value.details()
        stream = running.channel.stream_stream("/aib.v1.AttentionService/StreamFrames", **identity)
        good = pb.Frame(stream_id="ok", frame_index=0, raw=raw(frames[0])).SerializeToString()
        call = stream(iter([good, frame_bytes(b"\xff\xfe", 1)]), timeout=10)
        first = next(call)
        assert first.frame_index == 0 and first.top_k  # the frame before the garbage is answered
        with pytest.raises(grpc.RpcError) as ended:
            list(call)
        assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert is_serving(running.channel)
    finally:
        running.stop()


def test_bytes_in_flight_stay_within_the_budget_and_no_frame_is_dropped(demo_onnx):
    running = ServerProcess(demo_onnx, "--max-inflight-mb", "32", "--max-pixels", "3000000", "--metrics-port", "0")
    big = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)  # 6.2 MB raw
    answers: dict[int, list[int]] = {}
    readings: list[float] = []

    def stream(number: int) -> None:
        requests = (pb.Frame(stream_id=f"s{number}", frame_index=i, raw=raw(big)) for i in range(25))
        answers[number] = [r.frame_index for r in running.stub.StreamFrames(requests, timeout=120) if not r.error]

    def scrape(stop: threading.Event) -> None:
        while not stop.is_set():
            text = metrics_text(running)
            readings.extend(float(line.split()[1]) for line in text.splitlines() if line.startswith("aib_inflight_bytes "))
            time.sleep(0.01)

    try:
        stop = threading.Event()
        scraper = threading.Thread(target=scrape, args=(stop,))
        scraper.start()
        streams = [threading.Thread(target=stream, args=(n,)) for n in range(4)]
        for thread in streams:
            thread.start()
        for thread in streams:
            thread.join()
        stop.set()
        scraper.join()
        assert answers == {n: list(range(25)) for n in range(4)}
        assert readings and 0 < max(readings) <= 32 * 2**20, max(readings, default=None)
        assert "aib_inflight_budget_bytes 3.3554432e+07" in metrics_text(running)
    finally:
        running.stop()


def metrics_text(running: ServerProcess) -> str:
    port = int(running.banner.split("metrics on :")[1].split("/")[0])
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def frames_answered(running: ServerProcess) -> float:
    return sum(float(line.split()[1]) for line in metrics_text(running).splitlines() if line.startswith("aib_frames_total"))


def test_a_client_that_stops_reading_loses_its_slot_and_cannot_hold_shutdown(demo_onnx, frames):
    """It keeps sending and never reads: the idle timeout never fires, the write timeout does (its slot is
    the only one), and SIGTERM with such a client waiting exits within 2 s."""
    running = ServerProcess(demo_onnx, "--max-streams", "1", "--write-timeout-s", "1", "--metrics-port", "0")
    # Without BDP probing the client's receive window stays at 64 KiB, so it fills within a second; a stock
    # client's grows to megabytes first, which only makes the same wait longer.
    channel = grpc.insecure_channel(running.address, options=[("grpc.http2.bdp_probe", 0)])
    silent = []
    try:
        for _ in range(2):
            requests = (pb.Frame(frame_index=i, raw=raw(frames[i % len(frames)]), top_k=8) for i in range(50_000))
            call = pb_grpc.AttentionServiceStub(channel).StreamFrames(requests, timeout=120)
            next(call)  # then never read again: the answers fill the flow-control window, the server waits
            silent.append(call)
            started = time.monotonic()
            while time.monotonic() - started < 10:  # the second stream needs the slot the first one held
                try:
                    running.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
                    list(running.stub.StreamFrames(iter([pb.Frame(raw=raw(frames[0]))]), timeout=5))
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
                    time.sleep(0.2)
            else:
                raise AssertionError("the slot of the client that does not read was never freed")
            assert time.monotonic() - started < 4  # 1 s write timeout, plus the window filling up
        unread = re.search(r"^aib_unread_streams_total (\S+)$", metrics_text(running), re.MULTILINE)
        assert unread and float(unread.group(1)) >= 1
        started = time.monotonic()  # the second silent client is waiting with answers the server cannot write
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=10)
        assert time.monotonic() - started < 2 and running.process.returncode == 0
    finally:
        for call in silent:
            call.cancel()
        channel.close()
        running.stop(signalled=running.process.poll() is not None)
    stderr = running.read_stderr()
    assert "Traceback" not in stderr and "ERROR" not in stderr
    assert "answers not read for 1 s (--write-timeout-s); the stream was reset" in stderr


def test_bearer_scheme_is_case_insensitive_and_tokens_can_come_from_a_file(demo_onnx, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    running = ServerProcess(demo_onnx, "--token-file", str(token_file))
    try:
        for scheme in ("Bearer", "bearer", "BEARER"):
            reply = running.stub.GetModelInfo(
                pb.GetModelInfoRequest(), metadata=[("authorization", f"{scheme} s3cret")], timeout=5
            )
            assert reply.architecture
        with pytest.raises(grpc.RpcError) as refused:
            running.stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=[("authorization", "Basic s3cret")], timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        running.stop()


def test_a_model_of_max_batch_4_never_gets_larger_batches(demo_onnx, tmp_path, frames):
    from aib_deploy.card.model_card import card_from_metadata
    from aib_deploy.export.agreement import write_card

    small = tmp_path / "demo_max4.onnx"
    shutil.copyfile(demo_onnx, small)
    card = card_from_metadata({prop.key: prop.value for prop in onnx.load(str(small)).metadata_props}, "demo")
    write_card(small, card.with_max_batch(4))  # the graph takes any batch; the card is what bounds it
    assert_one_line_error(
        run_aib("serve", small, "--port", "0", "--max-batch", "8"),
        "--max-batch: expected 1 to 4 (the model's largest batch), got 8",
    )
    running = ServerProcess(small)  # no --max-batch: the default micro-batch shrinks to the model's 4
    try:
        sizes: list[int] = []

        def stream(number: int) -> None:
            requests = (pb.Frame(stream_id=f"s{number}", frame_index=i, raw=raw(frames[i % len(frames)])) for i in range(40))
            sizes.extend(r.timings.batch_size for r in running.stub.StreamFrames(requests, timeout=60))

        threads = [threading.Thread(target=stream, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(sizes) == 320 and max(sizes) <= 4 and max(sizes) == 4
    finally:
        running.stop()


def test_a_client_whose_request_stream_breaks_leaves_no_error_in_the_server_log(demo_onnx, frames):
    """The client's request iterator raises after one frame, so gRPC cancels the call while the server waits for
    the next frame; the server answers what it read and logs nothing (it once logged an unretrieved task)."""
    running = ServerProcess(demo_onnx)

    def requests():
        yield pb.Frame(stream_id="broken", frame_index=0, raw=raw(frames[0]))
        time.sleep(0.3)
        raise RuntimeError("the client broke")

    answers = []
    with pytest.raises(grpc.RpcError):
        for result in running.stub.StreamFrames(requests()):
            answers.append(result)
    time.sleep(0.5)
    code, _ = running.stop()
    assert code == 0 and [answer.frame_index for answer in answers] == [0]
    assert running.read_stderr().strip() == "", running.read_stderr()

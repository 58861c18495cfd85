"""The real gRPC server on a loopback port, driven by real clients."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from aib_deploy.media.synthetic import make_dataset, write_video
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import attention_pb2_grpc as pb_grpc
from tests.helpers.cli import assert_one_line_error, run_aib
from tests.helpers.server import MAX_PIXELS, ServerProcess, encoded, is_serving, raw, self_signed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(demo_onnx):
    running = ServerProcess(demo_onnx)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def images():
    frames, labels, _ = make_dataset(24, 96, seed=77)
    return list(frames), labels


def test_checked_in_stubs_match_the_proto():
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"], check=True)


def test_model_info(server):
    info = server.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
    assert info.architecture == "wrn_cifar_10_2_qt" and info.backend == "onnxruntime"
    assert list(info.labels)[:2] == ["disc", "ring"] and info.att_dim == 16 and len(info.anchors) == 20
    assert (info.input_height, info.input_width) == (32, 32) and "aib_deploy" in info.versions


def test_predict_encoded_and_raw_agree(server, images):
    frames, labels = images
    by_png = server.stub.Predict(pb.Frame(frame_index=1, encoded=encoded(frames[0], ".png"), top_k=3), timeout=10)
    by_raw = server.stub.Predict(pb.Frame(frame_index=2, raw=raw(frames[0])), timeout=10)
    assert by_png.error == "" and len(by_png.top_k) == 3 and len(by_raw.top_k) == 5
    assert by_png.top_k[0].class_index == by_raw.top_k[0].class_index == labels[0]
    assert by_png.attention.indices == by_raw.attention.indices and len(by_raw.attention.indices) == 256
    values = np.asarray(by_raw.attention.values).reshape(16, 16)
    anchors = np.asarray(by_raw.attention.anchors, dtype=np.float32)
    assert np.allclose(values, anchors[np.frombuffer(by_raw.attention.indices, np.uint8).reshape(16, 16)])


def test_streamed_video_is_answered_frame_by_frame_in_order(server, tmp_path):
    video = tmp_path / "clip.mp4"
    truth = write_video(video, frames=60, size=128, seed=3)
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    requests = (pb.Frame(stream_id="cam", frame_index=i, capture_time_ns=i, encoded=encoded(f)) for i, f in enumerate(frames))
    results = list(server.stub.StreamFrames(requests, timeout=60))
    assert [r.frame_index for r in results] == list(range(60))
    assert all(r.stream_id == "cam" and r.error == "" for r in results)
    correct = sum(r.top_k[0].class_index == label for r, label in zip(results, truth.labels))
    assert correct >= 54


def test_eight_concurrent_streams_of_100_frames_each_answered_once(server, images):
    frames, _ = images
    answers: dict[str, list[int]] = {}

    def stream(name: str) -> None:
        requests = (pb.Frame(stream_id=name, frame_index=i, raw=raw(frames[i % len(frames)])) for i in range(100))
        answers[name] = [r.frame_index for r in server.stub.StreamFrames(requests, timeout=120) if r.error == ""]

    threads = [threading.Thread(target=stream, args=(f"s{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dict(answers.items()) == {f"s{i}": list(range(100)) for i in range(8)}


def test_bad_frames_get_in_band_errors_and_the_stream_goes_on(server, images):
    frames, _ = images
    good = frames[0]
    bad = [
        pb.Frame(encoded=encoded(good)[:40]),
        pb.Frame(encoded=b""),
        pb.Frame(raw=pb.RawImage(data=b"\0" * 10, height=4, width=4, channels=3)),
        pb.Frame(raw=pb.RawImage(data=b"\0" * (1200 * 1000), height=1000, width=1200, channels=1)),
        pb.Frame(raw=pb.RawImage(data=b"\0" * 32, height=4, width=4, channels=2)),
        pb.Frame(),
    ]
    requests = []
    for index, frame in enumerate(bad):
        requests.append(pb.Frame(frame_index=2 * index, raw=raw(good)))
        frame.frame_index = 2 * index + 1
        requests.append(frame)
    results = list(server.stub.StreamFrames(iter(requests), timeout=60))
    assert [r.frame_index for r in results] == list(range(12))
    assert all(r.error == "" and r.top_k for r in results[0::2])
    errors = [r.error for r in results[1::2]]
    assert "encoded image: JPEG: cut short" in errors[0]
    assert "empty bytes" in errors[1]
    assert "needs 48 bytes, got 10" in errors[2]
    assert f"exceeds the limit of {MAX_PIXELS} pixels" in errors[3]
    assert "channels must be 1, 3 or 4, got 2" in errors[4]
    assert "no image" in errors[5]
    assert is_serving(server.channel)


def test_client_cancelling_mid_stream_leaves_the_server_healthy(server, images):
    frames, _ = images

    def endless():
        index = 0
        while True:
            yield pb.Frame(frame_index=index, raw=raw(frames[0]))
            index += 1
            time.sleep(0.01)

    call = server.stub.StreamFrames(endless(), timeout=60)
    received = [next(call).frame_index for _ in range(3)]
    call.cancel()
    assert received == [0, 1, 2]
    with pytest.raises(grpc.RpcError) as error:
        next(call)
    assert error.value.code() == grpc.StatusCode.CANCELLED
    assert is_serving(server.channel)
    assert server.stub.Predict(pb.Frame(raw=raw(frames[1])), timeout=10).error == ""


def test_deadlines_end_calls_with_deadline_exceeded_and_the_server_goes_on(server, images):
    frames, _ = images

    def slow():
        for index in range(1000):
            yield pb.Frame(frame_index=index, raw=raw(frames[0]))
            time.sleep(0.02)

    call = server.stub.StreamFrames(slow(), timeout=0.5)
    answered = []
    with pytest.raises(grpc.RpcError) as error:
        for result in call:
            answered.append(result.frame_index)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert answered and answered == list(range(len(answered)))
    big = np.zeros((2048, 2048, 3), np.uint8)
    with pytest.raises(grpc.RpcError) as error:
        server.stub.Predict(pb.Frame(raw=raw(big)), timeout=0.001)
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert is_serving(server.channel)
    assert server.stub.Predict(pb.Frame(raw=raw(frames[1])), timeout=10).error == ""


def test_health_and_reflection_answer_stock_clients(server):
    assert is_serving(server.channel)
    reply = health_pb2_grpc.HealthStub(server.channel).Check(
        health_pb2.HealthCheckRequest(service="aib.v1.AttentionService"), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    database = ProtoReflectionDescriptorDatabase(server.channel)
    services = set(database.get_services())
    assert {"aib.v1.AttentionService", "grpc.health.v1.Health"} <= services
    descriptor = database.FindFileContainingSymbol("aib.v1.AttentionService")
    assert descriptor.package == "aib.v1"


def test_wrong_token_is_unauthenticated(demo_onnx, images):
    running = ServerProcess(demo_onnx, "--token", "s3cret")
    try:
        frame = pb.Frame(raw=raw(images[0][0]))
        for metadata in ([], [("authorization", "Bearer wrong")]):
            with pytest.raises(grpc.RpcError) as error:
                running.stub.Predict(frame, metadata=metadata, timeout=10)
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as error:
            list(running.stub.StreamFrames(iter([frame]), metadata=[("authorization", "Bearer wrong")], timeout=10))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = running.stub.Predict(frame, metadata=[("authorization", "Bearer s3cret")], timeout=10)
        assert ok.error == "" and is_serving(running.channel)
    finally:
        running.stop()


def test_sigterm_with_a_client_that_keeps_streaming(demo_onnx, images):
    """The server stops reading, answers every frame it read (a prefix, in order), ends the stream with
    UNAVAILABLE saying why, and exits 0 long before its 10 s grace."""
    running = ServerProcess(demo_onnx)
    frames, _ = images

    def endless():
        for index in range(5000):
            yield pb.Frame(frame_index=index, raw=raw(frames[index % len(frames)]))
            time.sleep(0.002)

    call = running.stub.StreamFrames(endless(), timeout=60)
    answered = [next(call).frame_index]
    os.kill(running.process.pid, signal.SIGTERM)
    signalled = time.monotonic()
    with pytest.raises(grpc.RpcError) as ended:
        for result in call:
            answered.append(result.frame_index)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in ended.value.details()
    assert answered == list(range(len(answered))) and len(answered) < 5000
    code, out = running.stop(signalled=True)
    assert code == 0 and "stopping; answering the frames already read" in out and "stopped" in out
    assert time.monotonic() - signalled < 8


def test_prometheus_metrics_count_frames_and_batches(demo_onnx, images):
    import urllib.request

    running = ServerProcess(demo_onnx, "--metrics-port", "0")
    try:
        frames, _ = images
        requests = [pb.Frame(frame_index=i, raw=raw(frames[i])) for i in range(10)] + [pb.Frame(frame_index=10)]
        results = list(running.stub.StreamFrames(iter(requests), timeout=30))
        assert len(results) == 11
        port = int(running.banner.split("metrics on :")[1].split("/")[0])
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert 'aib_frames_total{outcome="ok"} 10.0' in text
        assert 'aib_frames_total{outcome="error"} 1.0' in text
        batched = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("aib_batch_size_sum"))
        assert batched == 10  # the bad frame never reaches the batcher
        assert "aib_queue_seconds_bucket" in text and "aib_compute_seconds_count" in text
    finally:
        running.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test certificate")
def test_tls_with_a_self_signed_certificate(demo_onnx, images, tmp_path):
    cert, key = self_signed(tmp_path)
    running = ServerProcess(demo_onnx, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert "(tls," in running.banner
        secure = grpc.secure_channel(running.address, grpc.ssl_channel_credentials(cert.read_bytes()))
        reply = pb_grpc.AttentionServiceStub(secure).Predict(pb.Frame(raw=raw(images[0][0])), timeout=10)
        assert reply.error == "" and reply.top_k
        secure.close()
        with pytest.raises(grpc.RpcError) as error:
            running.stub.Predict(pb.Frame(raw=raw(images[0][0])), timeout=5)  # plaintext to a TLS port
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop()


def test_a_micro_batch_above_the_models_largest_batch_is_refused_in_one_line(demo_onnx):
    result = run_aib("serve", demo_onnx, "--port", "0", "--max-batch", "33")
    assert_one_line_error(result, "--max-batch: expected 1 to 32 (the model's largest batch), got 33")

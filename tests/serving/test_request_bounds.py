"""`aib serve` against requests whose cost is in their structure, not their size, and the smaller defects of
the second black-box round: the real server on loopback, raw bytes and stock stubs."""

import struct
import threading
import time
import zlib

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aib_deploy import contract
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import grpc_service_pb2 as kserve
from aib_deploy.protocol.generated import grpc_service_pb2_grpc as kserve_grpc
from aib_deploy.serving.limits import TRIM_DELAY_S
from aib_deploy.serving.options import MAX_HEALTH_WATCHES
from tests.helpers.server import ServerProcess

MODEL = "aib_glyphs_wrn_cifar_10_2_qt_fp32"
BIG_SEND = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
STALL_BOUND_S = 0.25
RSS_BOUND_MB = 400


@pytest.fixture(scope="module")
def server(demo_onnx):
    running = ServerProcess(demo_onnx)
    yield running
    running.stop()


def rss_mb(running: ServerProcess) -> float:
    status = open(f"/proc/{running.process.pid}/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def raw_call(channel, method: str, streaming: bool = False):
    path = f"/inference.GRPCInferenceService/{method}"
    decode = (kserve.ModelStreamInferResponse if streaming else kserve.ModelInferResponse).FromString
    if streaming:
        return channel.stream_stream(path, request_serializer=bytes, response_deserializer=decode)
    return channel.unary_unary(path, request_serializer=bytes, response_deserializer=decode)


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 2**28)."""
    length, varint = len(payload), b""
    while True:
        byte, length = length & 0x7F, length >> 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return bytes([number << 3 | 2]) + varint + payload


NAME = field(1, MODEL.encode())
STRUCTURE_BOMBS = {  # each about 32 MB on the wire, each millions of entries once parsed
    "16M empty inputs": NAME + b"\x2a\x00" * 16_000_000,
    "16M empty outputs": NAME + b"\x32\x00" * 16_000_000,
    "16M parameters": NAME + b"\x22\x00" * 16_000_000,
    "16M shape entries": NAME + field(5, field(1, b"frames") + field(2, b"BYTES") + field(3, b"\x01" * 16_000_000)),
    "8M empty BYTES elements": NAME
    + field(5, field(1, b"frames") + field(2, b"BYTES") + b"\x1a\x01\x01" + field(5, b"\x42\x00" * 8_000_000)),
}


def refuse_while_probing(server: ServerProcess, payload: bytes, streaming: bool) -> tuple[grpc.RpcError, float]:
    """Send `payload` while another client checks health every 10 ms: the error, and the longest wait."""
    stop, gaps = threading.Event(), []

    def probe() -> None:
        stub = health_pb2_grpc.HealthStub(server.channel)
        last = time.monotonic()
        while not stop.is_set():
            stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    with grpc.insecure_channel(server.address, options=BIG_SEND) as channel:
        time.sleep(0.2)
        call = raw_call(channel, "ModelStreamInfer" if streaming else "ModelInfer", streaming)
        with pytest.raises(grpc.RpcError) as refused:
            if streaming:
                list(call(iter([payload]), timeout=30))
            else:
                call(payload, timeout=30)
        time.sleep(0.2)
    stop.set()
    prober.join()
    return refused.value, max(gaps)


@pytest.mark.parametrize("streaming", [False, True], ids=["ModelInfer", "ModelStreamInfer"])
@pytest.mark.parametrize("bomb", sorted(STRUCTURE_BOMBS))
def test_a_request_of_millions_of_entries_is_refused_before_it_is_built(server, bomb, streaming):
    """Refused with one line naming the field; nobody else waits more than 250 ms; the server stays under
    400 MB and gives the memory back. The machine is shared, so the wait is the best of three tries: noise
    only ever adds to it."""
    before = rss_mb(server)
    waits = []
    for _ in range(3):
        error, wait = refuse_while_probing(server, STRUCTURE_BOMBS[bomb], streaming)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "more than 64 entries" in error.details() and len(error.details()) < 300
        waits.append(wait)
        if wait < STALL_BOUND_S:
            break
    assert min(waits) < STALL_BOUND_S, f"health waited {[round(w * 1e3) for w in waits]} ms"
    assert server.peak_rss_mb() < RSS_BOUND_MB
    deadline = time.monotonic() + 4 * TRIM_DELAY_S  # the byte budget trims freed memory once traffic pauses
    while rss_mb(server) >= before + 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rss_mb(server) < before + 40


def test_client_strings_are_echoed_as_a_short_prefix(server):
    """Text up to the 4096-byte bound gets its own answer, quoting 64 characters; longer text is refused from
    the wire before it is parsed. Either way the status fits gRPC's trailer."""
    with grpc.insecure_channel(server.address, options=BIG_SEND) as channel:
        infer = raw_call(channel, "ModelInfer")
        cases = {
            "model name": (kserve.ModelInferRequest(model_name="x" * 4000), grpc.StatusCode.NOT_FOUND, "characters)"),
            "input names": (
                kserve.ModelInferRequest(model_name=MODEL, inputs=[{"name": "é" * 2000} for _ in range(8)]),
                grpc.StatusCode.INVALID_ARGUMENT,
                "and 4 more",
            ),
            "datatype": (
                kserve.ModelInferRequest(model_name=MODEL, inputs=[{"name": "frames", "datatype": "D" * 4000, "shape": [1]}]),
                grpc.StatusCode.INVALID_ARGUMENT,
                "characters)",
            ),
            "100,000-character name": (
                kserve.ModelInferRequest(model_name="x" * 100_000),
                grpc.StatusCode.INVALID_ARGUMENT,
                "model_name: a 100000-byte string, more than 4096",
            ),
        }
        for what, (request, code, fragment) in cases.items():
            with pytest.raises(grpc.RpcError) as refused:
                infer(request.SerializeToString(), timeout=10)
            assert refused.value.code() == code, (what, refused.value.details()[:200])
            assert fragment in refused.value.details() and len(refused.value.details().encode()) < 2000, what


def test_get_model_info_refuses_bytes_that_do_not_parse(server):
    info = server.channel.unary_unary("/aib.v1.AttentionService/GetModelInfo", request_serializer=bytes)
    with pytest.raises(grpc.RpcError) as refused:
        info(b"\xff\xff\xff", timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "aib.v1.GetModelInfoRequest" in refused.value.details()


def frames_request(image: bytes, **output) -> kserve.ModelInferRequest:
    request = kserve.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="frames", datatype="BYTES", shape=[1]).contents.bytes_contents.append(image)
    if output:
        request.outputs.add(name="logits").parameters["classification"].CopyFrom(kserve.InferParameter(**output))
    return request


def test_a_classification_count_of_the_wrong_kind_is_refused_not_ignored(server):
    image = cv2.imencode(".png", make_dataset(1, 64, seed=3)[0][0])[1].tobytes()
    infer = raw_call(server.channel, "ModelInfer")
    answer = infer(frames_request(image, int64_param=2).SerializeToString(), timeout=10)
    assert answer.outputs[0].name == "logits" and list(answer.outputs[0].shape) == [1, 2]  # the top 2 classes
    with pytest.raises(grpc.RpcError) as refused:
        infer(frames_request(image, string_param="2").SerializeToString(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'classification' must be an integer, got string_param" in refused.value.details()


def sixteen_bit_png(side: int) -> bytes:
    """A real 16-bit RGBA PNG of zeros: small on the wire, 8 bytes per pixel once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(bytes(side * (1 + side * 8)), 9)
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_16_bit_png_is_refused_from_its_header(server):
    png = sixteen_bit_png(512)
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # really 16-bit
    with pytest.raises(grpc.RpcError) as refused:
        raw_call(server.channel, "ModelInfer")(frames_request(png).SerializeToString(), timeout=10)
    assert "PNG of 16-bit samples; send 8-bit PNG or JPEG (not decoded)" in refused.value.details()
    result = server.stub.Predict(pb.Frame(encoded=png), timeout=10)
    assert "16-bit samples" in result.error


def test_health_watch_streams_are_bounded(server):
    stub = health_pb2_grpc.HealthStub(server.channel)
    watches = [stub.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(MAX_HEALTH_WATCHES)]
    try:
        for watch in watches:
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as refused:
            next(stub.Watch(health_pb2.HealthCheckRequest(), timeout=10))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "health Watch streams" in refused.value.details()
    finally:
        for watch in watches:
            watch.cancel()
    time.sleep(0.5)
    assert next(stub.Watch(health_pb2.HealthCheckRequest(), timeout=10)).status == health_pb2.HealthCheckResponse.SERVING


def test_frames_at_the_pixel_limit_stay_within_the_memory_bound(demo_onnx):
    """10 pictures at the pixel limit (4096 x 4096 BGRA: 64 MB each once decoded, 48 MB as BGR) in one KServe
    request, then in one aib.v1 stream: every frame is answered and the server peaks under 400 MB. Each
    picture decodes straight to BGR and shrinks to the model's input in the decode pool, so frames waiting
    for a batch (of at most 8) hold kilobytes each; held whole, the ten would take 480 MB."""
    pictures = 10  # more than a batch, few enough to decode in seconds
    picture = np.zeros((4096, 4096, 4), np.uint8)
    picture[1024:3072, 1024:3072] = (0, 0, 255, 128)
    png = cv2.imencode(".png", picture)[1].tobytes()
    running = ServerProcess(demo_onnx, "--max-pixels", str(contract.MAX_PIXELS))  # the server's default
    try:
        request = frames_request(png)
        request.inputs[0].shape[:] = [pictures, 1]
        request.inputs[0].contents.bytes_contents.extend([png] * (pictures - 1))
        answer = kserve_grpc.GRPCInferenceServiceStub(running.channel).ModelInfer(request, timeout=120)
        assert [output.shape[0] for output in answer.outputs] == [pictures] * len(answer.outputs)
        frames = [pb.Frame(encoded=png, frame_index=i) for i in range(pictures)]
        results = list(running.stub.StreamFrames(iter(frames), timeout=120))
        assert [result.error for result in results] == [""] * pictures
        peak = running.peak_rss_mb()
    finally:
        running.stop()
    assert peak < RSS_BOUND_MB, f"peak {peak:.0f} MB"

"""`aib serve` over the KServe v2 protocol, driven by the stock `tritonclient` gRPC client (unmodified)."""

import queue
import threading

import cv2
import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from aib_deploy.card.presets import NORMALIZATION
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import grpc_service_pb2 as kserve
from aib_deploy.protocol.generated import grpc_service_pb2_grpc as kserve_grpc
from aib_deploy.runtime.predictor import softmax
from tests.helpers.server import ServerProcess, encoded, raw, self_signed

MODEL = "aib_glyphs_wrn_cifar_10_2_qt_fp32"
MEAN, STD = (np.array(values, np.float32) for values in NORMALIZATION["wrn_cifar"])


@pytest.fixture(scope="module")
def server(demo_onnx):
    running = ServerProcess(demo_onnx, "--max-streams", "32")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    with triton.InferenceServerClient(server.address) as stock:
        yield stock


@pytest.fixture(scope="module")
def frames():
    images, labels, _ = make_dataset(12, 96, seed=5)
    return list(images), labels


def normalized(images: list[np.ndarray]) -> np.ndarray:
    """What a Triton user's own preprocessing sends: resized RGB, scaled, normalized NCHW (the card's mean/std)."""
    rows = [cv2.cvtColor(cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB) for image in images]
    return np.stack([((row.astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1) for row in rows]).astype(np.float32)


def frames_input(images: list[np.ndarray], suffix: str = ".png") -> triton.InferInput:
    data = np.array([[encoded(image, suffix)] for image in images], dtype=object)
    tensor = triton.InferInput("frames", list(data.shape), "BYTES")
    tensor.set_data_from_numpy(data)
    return tensor


def images_input(array: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput("images", list(array.shape), triton.np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array)
    return tensor


def test_metadata_config_and_readiness_come_from_the_card(client, server):
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    assert not client.is_model_ready("other") and not client.is_model_ready(MODEL, "2")
    assert f"model '{MODEL}'" in server.banner and "KServe v2" in server.banner
    metadata = client.get_model_metadata(MODEL)
    assert list(metadata.versions) == ["1"]
    assert {t.name: list(t.shape) for t in metadata.inputs} == {"images": [-1, 3, 32, 32], "frames": [-1, 1]}
    assert {t.name: (t.datatype, list(t.shape)) for t in metadata.outputs} == {
        "logits": ("FP32", [-1, 8]),
        "attention": ("FP32", [-1, 1, 16, 16]),
        "attention_index": ("INT32", [-1, 1, 16, 16]),
    }
    config = client.get_model_config(MODEL).config
    assert config.max_batch_size == 32 and config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert '"labels": ["disc", "ring"' in config.parameters["aib_deploy.model_card"].string_value
    assert set(client.get_server_metadata().extensions) >= {"classification", "model_configuration", "statistics"}


def test_same_answers_as_aib_v1_for_images_and_frames(client, server, frames):
    """top-1 equal, the probabilities aib.v1 reports equal softmax(logits) within 1e-5, anchor indices equal."""
    images, labels = frames
    by_images = client.infer(MODEL, [images_input(normalized(images))])
    by_frames = client.infer(MODEL, [frames_input(images)])
    assert by_images.get_response().model_version == "1"
    for result in (by_images, by_frames):
        logits, indices = result.as_numpy("logits"), result.as_numpy("attention_index")
        assert logits.shape == (12, 8) and indices.shape == (12, 1, 16, 16) and indices.dtype == np.int32
        for row, image in enumerate(images):
            reference = server.stub.Predict(pb.Frame(raw=raw(image), top_k=8), timeout=10)
            assert int(logits[row].argmax()) == reference.top_k[0].class_index
            probabilities = softmax(logits[row].astype(np.float64))
            assert np.allclose(
                [probabilities[c.class_index] for c in reference.top_k], [c.score for c in reference.top_k], atol=1e-5
            )
            assert indices[row, 0].astype(np.uint8).tobytes() == reference.attention.indices
            values = np.asarray(reference.attention.values, np.float32).reshape(1, 16, 16)
            assert np.allclose(result.as_numpy("attention")[row], values, atol=1e-6)
    assert (by_frames.as_numpy("logits").argmax(1) == labels).mean() >= 0.9


def test_classification_extension_on_logits(client, frames):
    images, _ = frames
    result = client.infer(MODEL, [frames_input(images[:3])], outputs=[triton.InferRequestedOutput("logits", class_count=2)])
    classes = result.as_numpy("logits")
    assert classes.shape == (3, 2)
    plain = client.infer(MODEL, [frames_input(images[:3])]).as_numpy("logits")
    for row in range(3):
        value, index, label = classes[row, 0].decode().split(":")
        assert int(index) == plain[row].argmax() and abs(float(value) - plain[row].max()) < 1e-5
        assert label == ["disc", "ring", "square", "triangle", "plus", "star", "arrow", "crescent"][int(index)]


def test_a_stream_of_300_frames_with_3_corrupt_answers_every_good_one(client, frames):
    images, _ = frames
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    corrupt = {41, 150, 299}
    for index in range(300):
        payload = b"\xff\xd8 not a jpeg" if index in corrupt else encoded(images[index % len(images)])
        data = np.array([[payload]], dtype=object)
        tensor = triton.InferInput("frames", [1, 1], "BYTES")
        tensor.set_data_from_numpy(data)
        client.async_stream_infer(MODEL, [tensor], request_id=str(index))
    results = [answers.get(timeout=60) for _ in range(300)]
    client.stop_stream()
    good = {int(result.get_response().id) for result, error in results if error is None}
    failed = [str(error) for result, error in results if error is not None]
    assert good == set(range(300)) - corrupt
    assert len(failed) == 3 and all("frames[0]" in message and "JPEG" in message for message in failed)
    assert sorted(int(message.split("'")[1]) for message in failed) == sorted(corrupt)


def test_bad_requests_get_the_protocols_codes_with_one_line(client, frames):
    images, _ = frames
    array = normalized(images[:2])
    cases = [
        (lambda: client.infer("other", [images_input(array)]), "StatusCode.NOT_FOUND", "not served here"),
        (lambda: client.infer(MODEL, [images_input(array)], model_version="7"), "StatusCode.NOT_FOUND", "version '7'"),
        (
            lambda: client.infer(MODEL, [images_input(array[:, :, :16])]),
            "StatusCode.INVALID_ARGUMENT",
            "expected shape [N, 3, 32, 32], got [2, 3, 16, 32]",
        ),
        (
            lambda: client.infer(MODEL, [images_input(np.zeros((33, 3, 32, 32), np.float32))]),
            "StatusCode.INVALID_ARGUMENT",
            "expected 1 to 32 rows",
        ),
        (
            lambda: client.infer(MODEL, [images_input(array.astype(np.float16))]),
            "StatusCode.INVALID_ARGUMENT",
            "expected datatype FP32, got 'FP16'",
        ),
        (
            lambda: client.infer(MODEL, [images_input(array), frames_input(images[:2])]),
            "StatusCode.INVALID_ARGUMENT",
            "expected one input",
        ),
        (
            lambda: client.infer(MODEL, [images_input(array)], outputs=[triton.InferRequestedOutput("scores")]),
            "StatusCode.INVALID_ARGUMENT",
            "output 'scores': unknown",
        ),
        (
            lambda: client.infer(MODEL, [frames_input([images[0], np.zeros((5000, 5000, 3), np.uint8)])]),
            "StatusCode.INVALID_ARGUMENT",
            "frames[1]: 5000x5000 exceeds the limit",
        ),
    ]
    for call, code, text in cases:
        with pytest.raises(InferenceServerException) as error:
            call()
        message = str(error.value)
        assert code in message and text in message and "\n" not in message and "Traceback" not in message
    assert client.infer(MODEL, [images_input(array)]).as_numpy("logits").shape == (2, 8)  # and the server goes on


def test_malformed_bytes_and_raw_contents_are_invalid_argument(server):
    """Messages a stock client would never send: raw bytes that do not parse, a BYTES length prefix past the end."""
    channel = server.channel
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with pytest.raises(grpc.RpcError) as error:
        infer(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "inference.ModelInferRequest" in error.value.details()
    request = kserve.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="frames", datatype="BYTES", shape=[1, 1])
    request.raw_input_contents.append(b"\xff\xff\x00\x00abc")
    with pytest.raises(grpc.RpcError) as error:
        kserve_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "input 'frames': element 0 declares 65535 bytes, 3 remain"


def test_statistics_show_batches_larger_than_one_under_concurrent_load(client, frames):
    images, _ = frames
    array = normalized(images[:1])
    before = client.get_inference_statistics(MODEL).model_stats[0].inference_count
    done = threading.Barrier(17)
    errors = []

    def call() -> None:
        try:
            for _ in range(10):
                client.infer(MODEL, [images_input(array)])
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        done.wait()

    for _ in range(16):
        threading.Thread(target=call, daemon=True).start()
    done.wait(timeout=120)
    assert not errors
    stats = client.get_inference_statistics(MODEL).model_stats[0]
    assert stats.inference_count - before == 160 and stats.execution_count < stats.inference_count
    assert max(batch.batch_size for batch in stats.batch_stats) > 1


def test_token_and_tls_apply_to_kserve_as_to_aib_v1(demo_onnx, frames, tmp_path):
    images, _ = frames
    cert, key = self_signed(tmp_path)
    running = ServerProcess(demo_onnx, "--token", "s3cret", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        with triton.InferenceServerClient(
            running.address.replace("127.0.0.1", "localhost"), ssl=True, root_certificates=str(cert)
        ) as secure:
            assert secure.is_server_live() and secure.is_server_ready()  # probes need no token
            assert secure.is_model_ready(MODEL) and not secure.is_model_ready("another")
            for headers in (None, {"authorization": "Bearer wrong"}):
                with pytest.raises(InferenceServerException) as error:
                    secure.infer(MODEL, [frames_input(images[:1])], headers=headers)
                assert "UNAUTHENTICATED" in str(error.value)
            with pytest.raises(InferenceServerException):
                secure.get_model_metadata(MODEL)
            result = secure.infer(MODEL, [frames_input(images[:1])], headers={"authorization": "bearer s3cret"})
            assert result.as_numpy("logits").shape == (1, 8)
        with triton.InferenceServerClient(running.address) as plaintext, pytest.raises(InferenceServerException):
            plaintext.is_server_live()
    finally:
        running.stop()

"""KServe v2 request parsing and response building as pure functions: every refusal is a RequestError with the
protocol's code and one line, whatever the bytes; a good request becomes rows, and predictions become the
contract's tensors exactly."""

import random

import cv2
import grpc
import numpy as np
import pytest

from aib_deploy.protocol.generated import grpc_service_pb2 as kserve
from aib_deploy.protocol.kserve import InferCall, infer_response, join_bytes, model_metadata, parse_infer, split_bytes
from aib_deploy.protocol.signature import ModelSignature
from aib_deploy.protocol.tensors import RequestError
from aib_deploy.runtime import Normalized, Prediction
from tests.helpers.cards import make_card

SIGNATURE = ModelSignature(make_card(num_classes=3, anchors=4, max_batch=8), "m", 8)
PIXELS = 1_000_000


def request(name="images", datatype="FP32", shape=(1, 3, 32, 32), raw: bytes | None = None, **fields):
    message = kserve.ModelInferRequest(**{"model_name": "m", "id": "r1", **fields})
    message.inputs.add(name=name, datatype=datatype, shape=shape)
    if raw is not None:
        message.raw_input_contents.append(raw)
    return message


def png(height=8, width=8) -> bytes:
    return cv2.imencode(".png", np.full((height, width, 3), 127, np.uint8))[1].tobytes()


def test_images_as_raw_contents_become_normalized_rows():
    images = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    call = parse_infer(request(shape=(2, 3, 32, 32), raw=images.tobytes()), SIGNATURE, PIXELS)
    assert call.request_id == "r1" and not call.rows.encoded and call.rows.cost == images.nbytes
    rows = call.rows.decoded()
    assert all(isinstance(row, Normalized) for row in rows)
    np.testing.assert_array_equal(np.stack([row.tensor for row in rows]), images)
    assert call.outputs == {"logits": 0, "attention": 0, "attention_index": 0}


def test_frames_as_bytes_contents_are_counted_with_their_decoded_size_and_decode_later():
    message = request("frames", "BYTES", (2, 1))
    message.inputs[0].contents.bytes_contents.extend([png(), png(4, 4)])
    call = parse_infer(message, SIGNATURE, PIXELS)
    assert call.rows.encoded and call.rows.cost == len(png()) + 8 * 8 * 3 + len(png(4, 4)) + 4 * 4 * 3
    assert [frame.shape for frame in call.rows.decoded()] == [(8, 8, 3), (4, 4, 3)]


@pytest.mark.parametrize(
    "message, code, line",
    [
        (request(model_name="other"), grpc.StatusCode.NOT_FOUND, "model 'other': not served here; this server serves 'm'"),
        (request(model_version="2"), grpc.StatusCode.NOT_FOUND, "model 'm' version '2': not served here"),
        (request(datatype="FP16"), grpc.StatusCode.INVALID_ARGUMENT, "input 'images': expected datatype FP32, got 'FP16'"),
        (request(shape=(1, 3, 16, 16)), grpc.StatusCode.INVALID_ARGUMENT, "expected shape [N, 3, 32, 32], got [1, 3, 16, 16]"),
        (
            request(shape=(9, 3, 32, 32)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expected 1 to 8 rows (the model's largest batch), got 9",
        ),
        (request(raw=b"\0" * 12), grpc.StatusCode.INVALID_ARGUMENT, "needs 12288 bytes of FP32, got 12"),
        (request(), grpc.StatusCode.INVALID_ARGUMENT, "needs 3072 values in fp32_contents, got 0"),
        (request("pixels"), grpc.StatusCode.INVALID_ARGUMENT, "input 'pixels': unknown; this model takes 'images' or 'frames'"),
        (
            request("frames", "BYTES", (1, 1), raw=b"\x05\0\0\0ab"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "element 0 declares 5 bytes, 2 remain",
        ),
        (request("frames", "BYTES", (2,), raw=join_bytes([b"a"])), grpc.StatusCode.INVALID_ARGUMENT, "needs 2 elements, got 1"),
        (request("frames", "BYTES", (1, 2)), grpc.StatusCode.INVALID_ARGUMENT, "expected shape [N, 1], got [1, 2]"),
        (
            kserve.ModelInferRequest(model_name="m"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expected one input, 'images' (FP32 [N, 3, 32, 32]) or 'frames' (BYTES [N, 1]), got none",
        ),
    ],
    ids=[
        "model",
        "version",
        "datatype",
        "shape",
        "rows",
        "raw length",
        "values",
        "unknown input",
        "length prefix",
        "element count",
        "frames shape",
        "no input",
    ],
)
def test_refusals_carry_the_protocols_code_and_one_line(message, code, line):
    with pytest.raises(RequestError) as refused:
        parse_infer(message, SIGNATURE, PIXELS)
    assert refused.value.code == code and line in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "output, line",
    [
        (kserve.ModelInferRequest.InferRequestedOutputTensor(name="z"), "output 'z': unknown; this model has logits"),
        (
            kserve.ModelInferRequest.InferRequestedOutputTensor(
                name="attention", parameters={"classification": kserve.InferParameter(int64_param=2)}
            ),
            "applies to 'logits' only",
        ),
        (
            kserve.ModelInferRequest.InferRequestedOutputTensor(
                name="logits", parameters={"classification": kserve.InferParameter(int64_param=-1)}
            ),
            "must be positive, got -1",
        ),
    ],
    ids=["unknown", "not logits", "negative"],
)
def test_requested_outputs_are_checked(output, line):
    message = request(raw=bytes(3 * 32 * 32 * 4), outputs=[output])
    with pytest.raises(RequestError, match=line):
        parse_infer(message, SIGNATURE, PIXELS)


def test_split_bytes_inverts_join_bytes_and_refuses_every_truncation_with_one_line():
    items = [b"", b"a", bytes(range(256)) * 3]
    raw = join_bytes(items)
    assert split_bytes(raw, "frames") == items
    for cut in range(1, len(raw)):
        try:
            split_bytes(raw[:cut], "frames")
        except RequestError as error:
            assert str(error).startswith("input 'frames': ") and "\n" not in str(error)


def test_random_bytes_never_escape_as_anything_but_a_request_error():
    """Generated input: random raw contents and shapes for both inputs; the parser answers rows or refuses."""
    generator = random.Random(7)
    for _ in range(400):
        name, datatype = generator.choice([("images", "FP32"), ("frames", "BYTES"), ("frames", "FP32"), ("x", "INT8")])
        shape = [generator.choice([-1, 0, 1, 2, 3, 32, 2**40]) for _ in range(generator.randint(0, 4))]
        raw = bytes(generator.getrandbits(8) for _ in range(generator.choice([0, 3, 4, 12, 64])))
        try:
            parse_infer(request(name, datatype, shape, raw=raw), SIGNATURE, PIXELS)
        except RequestError as error:
            assert "\n" not in str(error)


def prediction(row: int) -> Prediction:
    attention = np.full((16, 16), 0.25 * row, np.float32)
    return Prediction(
        attention=attention,
        anchor_index=np.full((16, 16), row, np.uint8),
        anchors=SIGNATURE.card.anchors,
        logits=np.array([row, 2.0, -1.0], np.float32),
    )


def test_the_response_holds_the_contract_tensors_little_endian_and_the_classification_extension():
    rows = parse_infer(request(raw=bytes(3 * 32 * 32 * 4)), SIGNATURE, PIXELS).rows
    call = InferCall("r1", rows, {"logits": 2, "attention": 0, "attention_index": 0})
    response = infer_response(call, [prediction(0), prediction(3)], SIGNATURE)
    outputs = {output.name: (output, raw) for output, raw in zip(response.outputs, response.raw_output_contents)}
    logits, raw = outputs["logits"]
    assert logits.datatype == "BYTES" and list(logits.shape) == [2, 2]
    assert split_bytes(raw, "logits") == [
        b"2.000000:1:class_1",
        b"0.000000:0:class_0",
        b"3.000000:0:class_0",
        b"2.000000:1:class_1",
    ]
    index, raw = outputs["attention_index"]
    assert index.datatype == "INT32" and list(index.shape) == [2, 1, 16, 16]
    np.testing.assert_array_equal(np.frombuffer(raw, "<i4").reshape(2, 1, 16, 16)[:, 0, 0, 0], [0, 3])
    attention, raw = outputs["attention"]
    assert attention.datatype == "FP32" and np.frombuffer(raw, "<f4").reshape(2, 1, 16, 16)[1, 0, 0, 0] == 0.75


def test_metadata_lists_both_inputs_and_every_output_from_the_signature():
    metadata = model_metadata(SIGNATURE, "aib_deploy_onnxruntime")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("images", "FP32", [-1, 3, 32, 32]),
        ("frames", "BYTES", [-1, 1]),
    ]
    assert [(t.name, t.datatype) for t in metadata.outputs] == [
        ("logits", "FP32"),
        ("attention", "FP32"),
        ("attention_index", "INT32"),
    ]

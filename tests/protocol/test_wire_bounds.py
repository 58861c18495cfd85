"""The structure scan on its own: what it counts, what it leaves to the parser, and that its cost follows the
counts, not the message's length."""

import time

import numpy as np
import pytest

from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import grpc_service_pb2 as kserve
from aib_deploy.protocol.wire_bounds import StructureLimits, structure_problem

REQUEST = kserve.ModelInferRequest.DESCRIPTOR
LIMITS = StructureLimits(repeated=8, fields=200)


def infer(**fields) -> bytes:
    return kserve.ModelInferRequest(model_name="m", **fields).SerializeToString()


def test_a_valid_request_with_its_data_passes():
    request = kserve.ModelInferRequest(model_name="m", id="r1")
    tensor = request.inputs.add(name="images", datatype="FP32", shape=[2, 3, 32, 32])
    tensor.contents.fp32_contents.extend(np.zeros(2 * 3 * 32 * 32, np.float32))  # 6144 values: data, not structure
    request.outputs.add(name="logits").parameters["classification"].int64_param = 3
    assert structure_problem(request.SerializeToString(), REQUEST, LIMITS) is None


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"inputs": [{"name": f"i{n}"} for n in range(9)]}, "inference.ModelInferRequest.inputs: more than 8 entries"),
        ({"outputs": [{"name": "o"}] * 9}, "inference.ModelInferRequest.outputs: more than 8 entries"),
        ({"inputs": [{"name": "i", "shape": list(range(9))}]}, "InferInputTensor.shape: more than 8 entries"),
        ({"parameters": {f"k{n}": kserve.InferParameter(bool_param=True) for n in range(9)}}, "parameters: more than 8"),
        ({"raw_input_contents": [b""] * 9}, "raw_input_contents: more than 8 entries"),
    ],
)
def test_each_repeated_field_is_counted_at_its_depth(fields, problem):
    assert problem in structure_problem(infer(**fields), REQUEST, LIMITS)


def test_bytes_elements_are_counted_and_numbers_in_data_fields_are_not():
    elements = kserve.ModelInferRequest(model_name="m")
    elements.inputs.add(name="frames").contents.bytes_contents.extend([b""] * 9)
    assert "bytes_contents: more than 8 entries" in structure_problem(elements.SerializeToString(), REQUEST, LIMITS)
    data = kserve.ModelInferRequest(model_name="m")
    data.inputs.add(name="ids").contents.int64_contents.extend(range(1000))
    assert structure_problem(data.SerializeToString(), REQUEST, LIMITS) is None


def test_unknown_fields_count_toward_the_total():
    unknown = b"\xf8\x07\x01" * 201  # field 127, a varint, over and over
    assert "more than 200 fields in one request" in structure_problem(infer() + unknown, REQUEST, LIMITS)


def test_broken_wire_format_is_refused_without_parsing():
    assert "truncated or overlong varint at byte 3" in structure_problem(b"\xff\xff\xff", REQUEST, LIMITS)
    assert "a field of 5 bytes at byte 2 runs past the end" in structure_problem(b"\x0a\x05ab", pb.Frame.DESCRIPTOR, LIMITS)


def test_a_group_cannot_hide_what_follows_it():
    """Proto2 groups are no part of these messages: one is refused, so the scan never stops short of a bomb."""
    hidden = infer() + b"\x7b\x7c" + b"\x2a\x00" * 100  # an empty group (field 15), then 100 empty inputs
    assert "broken wire format: wire type 3" in structure_problem(hidden, REQUEST, LIMITS)


def test_packed_numbers_are_counted_by_width_or_by_varint():
    shape = infer(inputs=[{"name": "i", "shape": [1, 300, 70000, 5, 6, 7, 8, 9, 10]}])  # 9 varints of 1 to 3 bytes
    assert "InferInputTensor.shape: more than 8 entries" in structure_problem(shape, REQUEST, LIMITS)
    assert structure_problem(infer(inputs=[{"name": "i", "shape": [1, 300, 70000, 5, 6, 7, 8, 9]}]), REQUEST, LIMITS) is None


def test_text_fields_are_bounded_and_picture_bytes_are_not():
    name = infer(inputs=[{"name": "x" * 4097}])
    assert "InferInputTensor.name: a 4097-byte string, more than 4096" in structure_problem(name, REQUEST, LIMITS)
    picture = pb.Frame(encoded=b"\xff" * 1_000_000).SerializeToString()
    assert structure_problem(picture, pb.Frame.DESCRIPTOR, LIMITS) is None


def test_the_scan_stops_at_the_first_count_over_its_bound():
    bomb = infer() + b"\x2a\x00" * 16_000_000  # 32 MB of empty inputs
    started = time.perf_counter()
    assert "inputs: more than 64 entries" in structure_problem(bomb, REQUEST, StructureLimits())
    assert time.perf_counter() - started < 0.05

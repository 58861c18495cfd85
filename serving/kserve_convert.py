"""KServe v2 messages <-> frames and predictions: the only place that knows both the protocol's tensors
and the runtime's types.

A request carries one input, as Triton's ONNX model or an ensemble would take it:
- `images`: FP32 [N, 3, H, W], normalized NCHW, exactly the ONNX contract's input;
- `frames`: BYTES [N] or [N, 1], one encoded JPEG or PNG per row, decoded and preprocessed here.
The answer holds the ONNX contract's outputs (`logits`, `attention`, `attention_index`), each as
Triton returns it (raw little-endian contents); Triton's classification extension applies to `logits`.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import grpc
import numpy as np

from ..card.model_card import ModelCard
from ..contract import FRAMES_INPUT, INPUT_NAME, MODEL_VERSION, output_names
from ..media.image_size import decode_wire_image
from ..runtime import Normalized, Prediction
from ..runtime.predictor import Frame
from .convert import encoded_cost
from .generated import grpc_service_pb2 as kserve

CLASSIFICATION = "classification"  # the output parameter of Triton's classification extension
LENGTH = struct.Struct("<I")  # a BYTES element's length prefix in raw contents


class RequestError(Exception):
    """A request the protocol refuses: its status code and one line saying why."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServedModel:
    """What the KServe endpoint publishes: the card's name, version and tensors."""

    card: ModelCard
    name: str
    max_batch: int
    version: str = str(MODEL_VERSION)

    def serves(self, name: str, version: str) -> bool:
        """Whether a request naming this model and version (empty: any) reaches it."""
        return name == self.name and version in ("", self.version)

    @property
    def outputs(self) -> tuple[str, ...]:
        return output_names(self.card.architecture.quantized)

    def output_shape(self, name: str) -> list[int]:
        """Without the batch dimension."""
        if name == "logits":
            return [self.card.architecture.num_classes]
        return [1, self.card.att_dim, self.card.att_dim]


OUTPUT_TYPES = {"logits": "FP32", "attention": "FP32", "attention_index": "INT32"}


@dataclass
class InferCall:
    """A parsed request: a decoder per row, whether they decode encoded pictures (in the pool), the bytes it
    holds in flight, and the outputs to return (name -> classification count, 0 for the tensor itself)."""

    request_id: str
    rows: list[Callable[[], Frame]]
    encoded: bool
    cost: int
    outputs: dict[str, int] = field(default_factory=dict)


def parse_infer(request: kserve.ModelInferRequest, model: ServedModel, max_pixels: int) -> InferCall:
    """The request's rows and outputs, or a RequestError with the protocol's status code."""
    check_model(request.model_name, request.model_version, model)
    if len(request.inputs) != 1:
        names = ", ".join(repr(tensor.name) for tensor in request.inputs) or "none"
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"expected one input, {INPUT_NAME!r} (FP32 [N, 3, H, W]) or "
                           f"{FRAMES_INPUT!r} (BYTES [N] or [N, 1]), got {names}")  # fmt: skip
    if request.raw_input_contents and len(request.raw_input_contents) != len(request.inputs):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"raw_input_contents: expected {len(request.inputs)} entry "
                           f"(one per input), got {len(request.raw_input_contents)}")  # fmt: skip
    tensor = request.inputs[0]
    raw = request.raw_input_contents[0] if request.raw_input_contents else None
    if tensor.name == INPUT_NAME:
        rows, cost = image_rows(tensor, raw, model)
        encoded = False
    elif tensor.name == FRAMES_INPUT:
        data = frame_rows(tensor, raw, model)
        rows = [partial(decode_wire_image, item, max_pixels, f"{FRAMES_INPUT}[{row}]") for row, item in enumerate(data)]
        cost = sum(encoded_cost(item, max_pixels) for item in data)
        encoded = True
    else:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {tensor.name!r}: unknown; this model takes "
                           f"{INPUT_NAME!r} or {FRAMES_INPUT!r}")  # fmt: skip
    return InferCall(request.id, rows, encoded, cost, requested_outputs(request, model))


def check_model(name: str, version: str, model: ServedModel) -> None:
    if model.serves(name, version):
        return
    if name != model.name:
        raise RequestError(grpc.StatusCode.NOT_FOUND, f"model {name!r}: not served here; this server serves {model.name!r}")
    raise RequestError(grpc.StatusCode.NOT_FOUND, f"model {name!r} version {version!r}: not served here; "
                           f"this server serves version {model.version}")  # fmt: skip


def batch_rows(tensor: kserve.ModelInferRequest.InferInputTensor, shape: list[int], model: ServedModel) -> int:
    """The rows of a tensor whose shape must be [N, *shape], N within the model's batch limit."""
    got = list(tensor.shape)
    described = "[N" + "".join(f", {dim}" for dim in shape) + "]"
    if len(got) != 1 + len(shape) or got[1:] != shape:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {tensor.name!r}: expected shape {described}, got {got}")
    if not 1 <= got[0] <= model.max_batch:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {tensor.name!r}: expected 1 to {model.max_batch} rows "
                           f"(the model's largest batch), got {got[0]}")  # fmt: skip
    return got[0]


def image_rows(tensor, raw: bytes | None, model: ServedModel) -> tuple[list[Callable[[], Frame]], int]:
    if tensor.datatype != "FP32":
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {INPUT_NAME!r}: expected datatype FP32, got {tensor.datatype!r}")
    size = model.card.input_size
    rows = batch_rows(tensor, [3, size, size], model)
    if raw is not None:
        expected = rows * 3 * size * size * 4
        if len(raw) != expected:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {INPUT_NAME!r}: shape {list(tensor.shape)} needs "
                               f"{expected} bytes of FP32, got {len(raw)}")  # fmt: skip
        array = np.frombuffer(raw, "<f4")
    else:
        array = np.asarray(tensor.contents.fp32_contents, np.float32)
        if array.size != rows * 3 * size * size:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {INPUT_NAME!r}: shape {list(tensor.shape)} needs "
                               f"{rows * 3 * size * size} values in fp32_contents, got {array.size}")  # fmt: skip
    array = array.astype(np.float32, copy=False).reshape(rows, 3, size, size)
    return [partial(Normalized, array[row]) for row in range(rows)], array.nbytes


def frame_rows(tensor, raw: bytes | None, model: ServedModel) -> list[bytes]:
    if tensor.datatype != "BYTES":
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {FRAMES_INPUT!r}: expected datatype BYTES (one encoded "
                           f"JPEG or PNG per row), got {tensor.datatype!r}")  # fmt: skip
    shape = [1] if len(tensor.shape) == 2 else []
    rows = batch_rows(tensor, shape, model)
    items = split_bytes(raw, tensor.name) if raw is not None else list(tensor.contents.bytes_contents)
    if len(items) != rows:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {FRAMES_INPUT!r}: shape {list(tensor.shape)} needs "
                           f"{rows} elements, got {len(items)}")  # fmt: skip
    return items


def split_bytes(raw: bytes, name: str) -> list[bytes]:
    """A BYTES tensor's raw contents: each element a 4-byte little-endian length, then its bytes."""
    items, offset = [], 0
    while offset < len(raw):
        if offset + LENGTH.size > len(raw):
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: raw contents end inside a length prefix")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > len(raw):
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: element {len(items)} declares {length} "
                               f"bytes, {len(raw) - offset} remain")  # fmt: skip
        items.append(raw[offset : offset + length])
        offset += length
    return items


def join_bytes(items: list[bytes]) -> bytes:
    return b"".join(LENGTH.pack(len(item)) + item for item in items)


def requested_outputs(request: kserve.ModelInferRequest, model: ServedModel) -> dict[str, int]:
    if not request.outputs:
        return dict.fromkeys(model.outputs, 0)
    outputs = {}
    for output in request.outputs:
        if output.name not in model.outputs:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"output {output.name!r}: unknown; this model has "
                               f"{', '.join(model.outputs)}")  # fmt: skip
        count = output.parameters[CLASSIFICATION].int64_param if CLASSIFICATION in output.parameters else 0
        if count and output.name != "logits":
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"output {output.name!r}: the classification extension "
                               "applies to 'logits' only")  # fmt: skip
        if count < 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"output {output.name!r}: classification count must be "
                               f"positive, got {count}")  # fmt: skip
        outputs[output.name] = count
    return outputs


def infer_response(call: InferCall, predictions: list[Prediction], model: ServedModel) -> kserve.ModelInferResponse:
    """The response for a call whose every row was predicted."""
    response = kserve.ModelInferResponse(model_name=model.name, model_version=model.version, id=call.request_id)
    rows = len(predictions)
    for name, count in call.outputs.items():
        if count:
            labels = model.card.labels
            entries = [f"{logits[index]:f}:{index}:{labels[index]}".encode()
                       for logits in (p.logits for p in predictions)
                       for index in np.argsort(-logits, kind="stable")[: min(count, len(logits))]]  # fmt: skip
            shape, datatype, contents = [rows, min(count, len(labels))], "BYTES", join_bytes(entries)
        else:
            shape, datatype = [rows, *model.output_shape(name)], OUTPUT_TYPES[name]
            contents = output_array(name, predictions).astype("<f4" if datatype == "FP32" else "<i4").tobytes()
        response.outputs.add(name=name, datatype=datatype, shape=shape)
        response.raw_output_contents.append(contents)
    return response


def output_array(name: str, predictions: list[Prediction]) -> np.ndarray:
    if name == "logits":
        return np.stack([p.logits for p in predictions])
    maps = [p.attention if name == "attention" else p.anchor_index for p in predictions]
    return np.stack(maps)[:, None]


def model_metadata(model: ServedModel, backend: str) -> kserve.ModelMetadataResponse:
    size = model.card.input_size
    metadata = kserve.ModelMetadataResponse(name=model.name, versions=[model.version], platform=f"aib_deploy_{backend}")
    metadata.inputs.add(name=INPUT_NAME, datatype="FP32", shape=[-1, 3, size, size])
    metadata.inputs.add(name=FRAMES_INPUT, datatype="BYTES", shape=[-1, 1])
    for name in model.outputs:
        metadata.outputs.add(name=name, datatype=OUTPUT_TYPES[name], shape=[-1, *model.output_shape(name)])
    return metadata

"""Property-based fuzzing of `aib serve`, shared by the suite's short run (tests/serving/test_fuzz.py) and the long
run (benchmarks/fuzz_server.py).

A case is a `Recipe`: a valid request of either protocol (real JPEG and PNG frames, KServe `frames` and `images`
tensors) and the edits Hypothesis drew for it, at the field level (counts, lengths, types, numbers, shapes,
pictures) and at the byte level (flips, cuts, repeated field tags, nested groups). Recipes are plain data, so a
failing one prints whole and replays with `FuzzServer(model).run(recipe)`. `FuzzServer` sends it to the real server
in its own process and checks what every answer must keep: a clean status within the time bound, one line without
a traceback, the protocol's own code, the server still healthy afterwards, its peak memory and the longest wait of
a concurrent prober within bounds.
"""

from __future__ import annotations

import itertools
import math
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import grpc
import numpy as np
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import strategies as st

from aib_deploy.contract import MAX_MESSAGE_BYTES
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import grpc_service_pb2 as kserve

from .server import MAX_PIXELS, ServerProcess

KSERVE = "/inference.GRPCInferenceService/"
AIB_V1 = "/aib.v1.AttentionService/"
ROOM = MAX_MESSAGE_BYTES - (64 << 10)  # the most a fuzzed message may take: the server's limit, less headers
ORACLE_LIMIT = 4 << 20  # larger messages are not parsed here (16M empty entries take gigabytes to parse)
BULKY, BULKY_TOTAL = 64, 4096  # entries in one repeated field, and fields in all, that no valid request needs
LONG_TEXT = 4096  # bytes of one string field (a name, a datatype, a key) that no valid request needs
PROBE_INTERVAL_S = 0.02
LEAKS = ("Traceback", "Exception", 'File "')
CLEAN_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.FAILED_PRECONDITION,
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UNKNOWN_GROUP = (b"\xfb\x07", b"\xfc\x07")  # start and end of a group of field 127, which no request has


@dataclass(frozen=True)
class Bounds:
    """What every case must keep. `kill_above_mb` is a guard, not a bound: a server past it is killed, so a
    runaway one fails alone instead of drawing the kernel's OOM killer onto a shared machine."""

    call_s: float = 5.0
    stall_ms: float = 1000.0
    rss_mb: float = 400.0
    kill_above_mb: float = 4096.0


@dataclass(frozen=True)
class Repeat:
    """`unit * count`: a long string that a recipe's printout keeps short."""

    unit: str
    count: int


@dataclass(frozen=True)
class Edit:
    """One change: `name` picks the function (FIELD_EDITS or WIRE_EDITS), `args` are plain values."""

    name: str
    args: tuple = ()


@dataclass(frozen=True)
class Recipe:
    """A valid request (`seed` of `method`), then field `edits`, then byte `wire` edits on its serialized form.
    For a stream the fuzzed request goes between two valid ones."""

    method: str
    seed: str
    edits: tuple[Edit, ...] = ()
    wire: tuple[Edit, ...] = ()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints a failing recipe as it was built; its repr is what replays it."""
        printer.text(repr(self))


@dataclass(frozen=True)
class Method:
    """A gRPC method as the fuzzer calls it: raw bytes in, its response type out."""

    path: str
    request: type[Message]
    response: type[Message]
    family: str  # which seeds and field edits apply: infer, frame, named, empty
    stream: bool = False
    weight: int = 1  # how often `recipes` picks it: the model calls, with the most to get wrong, the most


METHODS = {
    "ModelInfer": Method(KSERVE + "ModelInfer", kserve.ModelInferRequest, kserve.ModelInferResponse, "infer", weight=8),
    "ModelStreamInfer": Method(
        KSERVE + "ModelStreamInfer", kserve.ModelInferRequest, kserve.ModelStreamInferResponse, "infer", stream=True, weight=4
    ),
    "ModelMetadata": Method(KSERVE + "ModelMetadata", kserve.ModelMetadataRequest, kserve.ModelMetadataResponse, "named"),
    "ModelConfig": Method(KSERVE + "ModelConfig", kserve.ModelConfigRequest, kserve.ModelConfigResponse, "named"),
    "ModelStatistics": Method(KSERVE + "ModelStatistics", kserve.ModelStatisticsRequest, kserve.ModelStatisticsResponse, "named"),
    "ModelReady": Method(KSERVE + "ModelReady", kserve.ModelReadyRequest, kserve.ModelReadyResponse, "named"),
    "ServerLive": Method(KSERVE + "ServerLive", kserve.ServerLiveRequest, kserve.ServerLiveResponse, "empty"),
    "ServerMetadata": Method(KSERVE + "ServerMetadata", kserve.ServerMetadataRequest, kserve.ServerMetadataResponse, "empty"),
    "Predict": Method(AIB_V1 + "Predict", pb.Frame, pb.FrameResult, "frame", weight=4),
    "StreamFrames": Method(AIB_V1 + "StreamFrames", pb.Frame, pb.FrameResult, "frame", stream=True, weight=3),
    "GetModelInfo": Method(AIB_V1 + "GetModelInfo", pb.GetModelInfoRequest, pb.ModelInfo, "empty"),
}
SEEDS = {
    "infer": ("frames", "frames-n1", "frames-raw", "frames-classify", "images", "images-raw"),
    "frame": ("jpeg", "png", "raw"),
    "named": ("named",),
    "empty": ("empty",),
}
STREAM_IDS = ("before", "fuzz", "after")  # the KServe ids of a stream's three requests (aib.v1: frame_index 0, 1, 2)


def _encoded(image: np.ndarray, suffix: str, params: tuple[int, ...] = ()) -> bytes:
    ok, data = cv2.imencode(suffix, image, list(params))
    assert ok, suffix
    return data.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that is only its header: what a decompression bomb shows before its data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


class Material:
    """The valid pieces recipes are built from, for the served model: its name and version, its input side,
    real pictures of every kind the wire may carry (and some it must refuse)."""

    def __init__(self, model: str, version: str, side: int, max_pixels: int = MAX_PIXELS) -> None:
        self.model, self.version, self.side = model, version, side
        first, second = make_dataset(2, 64, seed=7)[0]
        rng = np.random.default_rng(7)
        limit = math.isqrt(max_pixels)  # the side of the largest square picture the server decodes
        self.pictures = {
            "jpeg": _encoded(first, ".jpg"),
            "png": _encoded(second, ".png"),
            "png-gray": _encoded(cv2.cvtColor(first, cv2.COLOR_BGR2GRAY), ".png"),
            "png-bgra": _encoded(cv2.cvtColor(first, cv2.COLOR_BGR2BGRA), ".png"),
            "jpeg-progressive": _encoded(first, ".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
            "png-16bit": _encoded(first.astype(np.uint16) * 257, ".png"),
            "png-16bit-limit": _encoded(np.zeros((limit, limit, 4), np.uint16), ".png"),
            "jpeg-limit": _encoded(
                rng.integers(0, 256, (limit, limit, 3), dtype=np.uint8), ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 75)
            ),
            "png-over-limit": _encoded(np.zeros((limit + 1, limit), np.uint8), ".png"),
            "png-65535-header": _png_header(65535, 65535),
            "png-0x0": _png_header(0, 0),
            "jpeg-no-sof": b"\xff\xd8\xff\xda\x00\x08" + bytes(6) + b"\xff\xd9",
            "bmp": _encoded(first, ".bmp"),
            "webp": _encoded(first, ".webp"),
            "tiff": _encoded(first, ".tiff"),
            "empty": b"",
        }
        self.images = rng.standard_normal((2, 3, side, side)).astype(np.float32)

    @classmethod
    def of(cls, server: ServerProcess, channel: grpc.Channel, max_pixels: int) -> Material:
        """The material for the model `server` serves: name from its banner, the rest asked over `channel`."""
        model = server.banner.split("(model '")[1].split("'")[0]
        info = channel.unary_unary(AIB_V1 + "GetModelInfo", pb.GetModelInfoRequest.SerializeToString, pb.ModelInfo.FromString)
        metadata = channel.unary_unary(
            KSERVE + "ModelMetadata", kserve.ModelMetadataRequest.SerializeToString, kserve.ModelMetadataResponse.FromString
        )
        side = info(pb.GetModelInfoRequest(), timeout=30).input_height
        return cls(model, metadata(kserve.ModelMetadataRequest(name=model), timeout=30).versions[0], side, max_pixels)

    def text(self, value: str | Repeat) -> str:
        """A drawn string, with the served model's name put in for `{model}` (`{MODEL}`: in capitals)."""
        if isinstance(value, Repeat):
            return value.unit * value.count
        return value.replace("{model}", self.model).replace("{MODEL}", self.model.upper())

    def picture(self, spec: tuple) -> bytes:
        """A picture by name, or `("cut", name, at)`, `("flip", name, at, bit)`, `("junk", prefix, tail)`."""
        kind = spec[0]
        if kind == "cut":
            data = self.pictures[spec[1]]
            return data[: spec[2] % len(data)]
        if kind == "flip":
            data = bytearray(self.pictures[spec[1]])
            data[spec[2] % len(data)] ^= 1 << spec[3]
            return bytes(data)
        if kind == "junk":
            return spec[1] + spec[2]
        return self.pictures[kind]

    def serves(self, name: str, version: str) -> bool:
        """Whether a request naming this model and version reaches the model (the protocol's rule)."""
        return name == self.model and version in ("", self.version)


def _join(items: Sequence[bytes]) -> bytes:
    """A BYTES tensor's raw contents: each element after its 4-byte little-endian length."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def _split(raw: bytes) -> list[bytes]:
    """The elements `_join` wrote; what does not parse as such is one element."""
    items, offset = [], 0
    while offset + 4 <= len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            return [raw]
        items.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return items if offset == len(raw) else [raw]


def seed_message(method: Method, seed: str, material: Material, index: int = 1) -> Message:
    """A valid request; `index` tells a stream's three requests apart (0 before the fuzzed one, 2 after)."""
    if method.family == "named":
        return method.request(name=material.model, version=material.version)
    if method.family == "empty":
        return method.request()
    if method.family == "frame":
        frame = pb.Frame(stream_id="fuzz", frame_index=index, capture_time_ns=1_700_000_000_000_000_000 + index, top_k=3)
        if seed == "raw":
            image = cv2.imdecode(np.frombuffer(material.pictures["png"], np.uint8), cv2.IMREAD_COLOR)
            frame.raw.CopyFrom(pb.RawImage(data=image.tobytes(), height=image.shape[0], width=image.shape[1], channels=3))
        else:
            frame.encoded = material.pictures[seed]
        return frame
    request = kserve.ModelInferRequest(model_name=material.model, model_version=material.version, id=STREAM_IDS[index])
    if seed.startswith("frames"):
        items = [material.pictures["jpeg"], material.pictures["png"]]
        tensor = request.inputs.add(name="frames", datatype="BYTES", shape=[2, 1] if seed == "frames-n1" else [2])
        if seed == "frames-raw":
            request.raw_input_contents.append(_join(items))
        else:
            tensor.contents.bytes_contents.extend(items)
        if seed == "frames-classify":
            request.outputs.add(name="logits").parameters["classification"].int64_param = 2
    else:
        tensor = request.inputs.add(name="images", datatype="FP32", shape=material.images.shape)
        if seed == "images-raw":
            request.raw_input_contents.append(material.images.astype("<f4").tobytes())
        else:
            tensor.contents.fp32_contents.extend(material.images.ravel().tolist())
    return request


# Field edits: each changes a request of its family in place. Counts that would pass the server's message limit
# are cut to what fits: a message over the limit is refused by gRPC itself and tells nothing about the server.


def _room(message: Message, each: int) -> int:
    """How many more pieces of `each` bytes fit in `message` under the limit."""
    return max(0, (ROOM - message.ByteSize()) // max(each, 1))


def _set_parameter(parameter: kserve.InferParameter, material: Material, kind: str, value: object) -> None:
    setattr(parameter, f"{kind}_param", material.text(value) if kind == "string" else value)


def _first_input(request: kserve.ModelInferRequest) -> kserve.ModelInferRequest.InferInputTensor:
    return request.inputs[0] if request.inputs else request.inputs.add()


def _text_field(name: str) -> Callable:
    def edit(message: Message, material: Material, value: str | Repeat) -> None:
        setattr(message, name, material.text(value))

    return edit


def _parameter_size(material: Material, key: str, param: tuple) -> int:
    """The bytes one parameters-map entry takes on the wire (an upper bound)."""
    parameter = kserve.InferParameter()
    _set_parameter(parameter, material, *param)
    return len(key.encode()) + parameter.ByteSize() + 24


def _parameters(request: kserve.ModelInferRequest, material: Material, count: int, key: str | Repeat, param: tuple) -> None:
    prefix = material.text(key)
    for number in range(min(count, _room(request, _parameter_size(material, prefix, param)))):
        _set_parameter(request.parameters[f"{prefix}{number}"], material, *param)


def _input_parameters(request: kserve.ModelInferRequest, material: Material, count: int, key: str | Repeat, param: tuple) -> None:
    tensor, prefix = _first_input(request), material.text(key)
    for number in range(min(count, _room(request, _parameter_size(material, prefix, param)))):
        _set_parameter(tensor.parameters[f"{prefix}{number}"], material, *param)


def _outputs(request: kserve.ModelInferRequest, material: Material, count: int, name: str | Repeat, param: tuple | None) -> None:
    output = kserve.ModelInferRequest.InferRequestedOutputTensor(name=material.text(name))
    if param is not None:
        _set_parameter(output.parameters["classification"], material, *param)
    request.outputs.extend([output] * min(count, _room(request, output.ByteSize() + 6)))


def _add_inputs(request: kserve.ModelInferRequest, material: Material, count: int, copies: bool) -> None:
    """`count` more inputs: copies of the first, or empty entries."""
    entry = request.inputs[0] if copies and request.inputs else kserve.ModelInferRequest.InferInputTensor()
    request.inputs.extend([entry] * min(count, _room(request, entry.ByteSize() + 6)))


def _shape(request: kserve.ModelInferRequest, material: Material, dims: tuple[int, ...]) -> None:
    tensor = _first_input(request)
    del tensor.shape[:]
    tensor.shape.extend(dims)


def _shape_repeat(request: kserve.ModelInferRequest, material: Material, count: int, dim: int) -> None:
    tensor = _first_input(request)
    del tensor.shape[:]
    tensor.shape.extend([dim] * min(count, _room(request, 10)))


def _contents(request: kserve.ModelInferRequest, material: Material, typed: tuple, count: int) -> None:
    """`count` values of one kind in the first input's contents (bytes_contents, fp32_contents, ...)."""
    kind, value = typed
    size = len(value) + 2 if kind == "bytes" else 10
    getattr(_first_input(request).contents, f"{kind}_contents").extend([value] * min(count, _room(request, size)))


def _frame_items(request: kserve.ModelInferRequest) -> list[bytes]:
    tensor = _first_input(request)
    if request.raw_input_contents:
        return _split(request.raw_input_contents[0])
    return list(tensor.contents.bytes_contents)


def _set_frame_items(request: kserve.ModelInferRequest, items: list[bytes]) -> None:
    if request.raw_input_contents:
        request.raw_input_contents[0] = _join(items)
    else:
        contents = _first_input(request).contents
        del contents.bytes_contents[:]
        contents.bytes_contents.extend(items)


def _picture(request: kserve.ModelInferRequest, material: Material, row: int, spec: tuple) -> None:
    """Element `row` (modulo the count) of the first input becomes the picture `spec`."""
    items = _frame_items(request) or [b""]
    items[row % len(items)] = material.picture(spec)
    _set_frame_items(request, items)


def _add_pictures(request: kserve.ModelInferRequest, material: Material, count: int, spec: tuple, reshape: bool) -> None:
    """`count` more elements of the picture `spec`; with `reshape` the shape says how many there are."""
    data = material.picture(spec)
    items = _frame_items(request)
    items += [data] * min(count, _room(request, len(data) + 6))
    _set_frame_items(request, items)
    if reshape:
        tensor = _first_input(request)
        dims = list(tensor.shape[1:])
        del tensor.shape[:]
        tensor.shape.extend([len(items), *dims])


def _raw_entries(request: kserve.ModelInferRequest, material: Material, count: int, size: int) -> None:
    request.raw_input_contents.extend([bytes(size)] * min(count, _room(request, size + 4)))


def _raw_prefix(request: kserve.ModelInferRequest, material: Material, declared: int) -> None:
    """The first raw entry's first 4 bytes (a BYTES element's length) say `declared`."""
    if request.raw_input_contents:
        request.raw_input_contents[0] = struct.pack("<I", declared) + request.raw_input_contents[0][4:]


def _raw_cut(request: kserve.ModelInferRequest, material: Material, at: int) -> None:
    if request.raw_input_contents:
        raw = request.raw_input_contents[0]
        request.raw_input_contents[0] = raw[: at % (len(raw) + 1)]


def _value(request: kserve.ModelInferRequest, material: Material, index: int, value: float) -> None:
    """One FP32 value of the `images` tensor, in its contents or its raw bytes."""
    values = _first_input(request).contents.fp32_contents
    if values:
        values[index % len(values)] = value
    elif request.raw_input_contents and len(request.raw_input_contents[0]) >= 4:
        raw = bytearray(request.raw_input_contents[0])
        struct.pack_into("<f", raw, 4 * (index % (len(raw) // 4)), value)
        request.raw_input_contents[0] = bytes(raw)


def _encoded_frame(frame: pb.Frame, material: Material, spec: tuple) -> None:
    frame.encoded = material.picture(spec)


def _raw_dims(frame: pb.Frame, material: Material, height: int, width: int, channels: int) -> None:
    frame.raw.height, frame.raw.width, frame.raw.channels = height, width, channels


def _raw_data(frame: pb.Frame, material: Material, count: int, byte: int) -> None:
    frame.raw.data = bytes([byte]) * min(count, _room(frame, 1))


def _raw_image(frame: pb.Frame, material: Material, height: int, width: int, channels: int) -> None:
    """A raw image whose data matches its dimensions, when that fits in a message (else with no data)."""
    size = height * width * channels
    data = bytes(size) if size <= _room(frame, 1) else b""
    frame.raw.CopyFrom(pb.RawImage(data=data, height=height, width=width, channels=channels))


def _clear_image(frame: pb.Frame, material: Material) -> None:
    frame.ClearField("image")


def _scalar(name: str) -> Callable:
    def edit(message: Message, material: Material, value: int) -> None:
        setattr(message, name, value)

    return edit


FIELD_EDITS: dict[str, dict[str, Callable]] = {
    "infer": {
        "model_name": _text_field("model_name"),
        "model_version": _text_field("model_version"),
        "id": _text_field("id"),
        "parameters": _parameters,
        "input_parameters": _input_parameters,
        "outputs": _outputs,
        "add_inputs": _add_inputs,
        "drop_inputs": lambda request, material: request.ClearField("inputs"),
        "input_name": lambda request, material, value: setattr(_first_input(request), "name", material.text(value)),
        "datatype": lambda request, material, value: setattr(_first_input(request), "datatype", material.text(value)),
        "shape": _shape,
        "shape_repeat": _shape_repeat,
        "contents": _contents,
        "picture": _picture,
        "add_pictures": _add_pictures,
        "raw_entries": _raw_entries,
        "raw_prefix": _raw_prefix,
        "raw_cut": _raw_cut,
        "value": _value,
    },
    "frame": {
        "stream_id": _text_field("stream_id"),
        "frame_index": _scalar("frame_index"),
        "capture_time_ns": _scalar("capture_time_ns"),
        "top_k": _scalar("top_k"),
        "encoded": _encoded_frame,
        "raw_dims": _raw_dims,
        "raw_data": _raw_data,
        "raw_image": _raw_image,
        "clear_image": _clear_image,
    },
    "named": {"name": _text_field("name"), "version": _text_field("version")},
    "empty": {},
}


# Wire edits: each turns serialized bytes into other bytes. Positions are taken modulo the length.


def _flip(data: bytes, at: int, bit: int) -> bytes:
    if not data:
        return data
    changed = bytearray(data)
    changed[at % len(data)] ^= 1 << bit
    return bytes(changed)


def _insert(data: bytes, at: int, extra: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + extra + data[at:]


def _delete(data: bytes, at: int, length: int) -> bytes:
    at %= len(data) + 1
    return data[:at] + data[at + length :]


def _duplicate(data: bytes, at: int, length: int) -> bytes:
    at %= len(data) + 1
    return data[: at + length] + data[at:]


def _repeat(data: bytes, tag: bytes, count: int) -> bytes:
    """`count` more copies of a field (`tag`: its key and an empty value), as many as fit."""
    return data + tag * min(count, max(0, ROOM - len(data)) // len(tag))


def _groups(data: bytes, depth: int) -> bytes:
    """An unknown field of groups nested `depth` deep."""
    depth = min(depth, max(0, ROOM - len(data)) // 4)
    return data + UNKNOWN_GROUP[0] * depth + UNKNOWN_GROUP[1] * depth


def _long_length(data: bytes, key: bytes, length: int) -> bytes:
    """A length-delimited field that declares `length` bytes and has none."""
    varint = bytearray()
    while True:
        varint.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            return data + key + bytes(varint)


WIRE_EDITS: dict[str, Callable[..., bytes]] = {
    "flip": _flip,
    "insert": _insert,
    "delete": _delete,
    "duplicate": _duplicate,
    "truncate": lambda data, at: data[: at % (len(data) + 1)],
    "append": lambda data, extra: data + extra,
    "repeat": _repeat,
    "groups": _groups,
    "long_length": _long_length,
}
# Field keys with an empty value, per family: repeated ones pile up entries, singular ones are read last-wins.
REPEAT_TAGS = {
    "infer": (b"\x2a\x00", b"\x32\x00", b"\x3a\x00", b"\x22\x00", b"\x0a\x00", b"\x1a\x00"),
    "frame": (b"\x22\x00", b"\x2a\x00", b"\x0a\x00", b"\x10\x00", b"\x30\x00"),
    "named": (b"\x0a\x00", b"\x12\x00"),
    "empty": (),
}
UNKNOWN_TAGS = (b"\xf8\x07\x00", b"\xfa\x07\x00")  # field 127 as a varint and as empty bytes


# Hypothesis strategies: recipes as plain data.

SMALL_COUNTS = (0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 1000, 10_000)
HUGE_COUNTS = (100_000, 1_000_000, 16_000_000)
LENGTHS = (100, 1000, 8000, 20_000, 100_000, 1_000_000)
TEMPLATES = ("{model}", "{model} ", " {model}", "{MODEL}", "{model}\x00", "{model}/1", "{model}{model}")
ODD_TEXTS = ("", " ", "\x00", "\n", "é", "\U0001f600", "'", '"', "\\", "%s%n%x", "../../etc/passwd", "frames", "images", "logits")
DATATYPES = ("BYTES", "FP32", "FP16", "BF16", "FP64", "INT8", "UINT8", "INT32", "INT64", "BOOL", "STRING", "bytes", "fp32")
PICTURE_NAMES = (
    "jpeg", "png", "png-gray", "png-bgra", "jpeg-progressive", "png-16bit", "png-16bit-limit", "jpeg-limit",
    "png-over-limit", "png-65535-header", "png-0x0", "jpeg-no-sof", "bmp", "webp", "tiff", "empty",
)  # fmt: skip
INT64 = st.integers(-(2**63), 2**63 - 1)
UINT64 = st.integers(0, 2**64 - 1)
UINT32 = st.integers(0, 2**32 - 1)
POSITIONS = st.integers(0, 2**25)


def counts(huge_share: int, largest: int = HUGE_COUNTS[-1]) -> st.SearchStrategy[int]:
    """Mostly small counts; `huge_share` draws in 100 a huge one (up to `largest`), which can cost seconds a case.
    The share is a window in the middle of 0..99 because Hypothesis favours the ends of a range."""
    huge = [count for count in HUGE_COUNTS if count <= largest] or [largest]
    return st.tuples(st.integers(0, 99), st.sampled_from(SMALL_COUNTS), st.sampled_from(huge)).map(
        lambda drawn: drawn[2] if 40 <= drawn[0] < 40 + huge_share else drawn[1]
    )


def texts() -> st.SearchStrategy[str | Repeat]:
    """Names and ids: the served name and near misses, odd characters, random text, very long runs."""
    return st.one_of(
        st.sampled_from(TEMPLATES + ODD_TEXTS),
        st.text(max_size=16),
        st.builds(Repeat, st.sampled_from(("a", "é", "\n", "'", "\U0001f600")), st.sampled_from(LENGTHS)),
    )


def parameters() -> st.SearchStrategy[tuple]:
    """An InferParameter of any kind: (kind, value)."""
    return st.one_of(
        st.tuples(st.just("bool"), st.booleans()),
        st.tuples(st.just("int64"), INT64 | st.sampled_from((-1, 0, 1, 2, 8, 9))),
        st.tuples(st.just("uint64"), UINT64),
        st.tuples(st.just("double"), st.floats()),
        st.tuples(st.just("string"), texts()),
    )


def pictures() -> st.SearchStrategy[tuple]:
    """Picture specs for `Material.picture`: whole, cut short, one bit flipped, or junk behind a real signature."""
    return st.one_of(
        st.sampled_from(PICTURE_NAMES).map(lambda name: (name,)),
        st.tuples(st.just("cut"), st.sampled_from(("jpeg", "png", "jpeg-limit", "png-16bit")), POSITIONS),
        st.tuples(st.just("flip"), st.sampled_from(("jpeg", "png", "png-bgra")), POSITIONS, st.integers(0, 7)),
        st.tuples(
            st.just("junk"), st.sampled_from((b"", PNG_SIGNATURE, b"\xff\xd8", b"\xff\xd8\xff\xc0")), st.binary(max_size=64)
        ),
    )


def _edit(name: str, *args: st.SearchStrategy) -> st.SearchStrategy[Edit]:
    return st.tuples(*args).map(lambda values: Edit(name, values))


def field_edits(family: str, huge_share: int) -> st.SearchStrategy[Edit] | None:
    """One field edit for a request of `family` (None: its requests have no fields)."""
    many = counts(huge_share, 1_000_000)
    dims = INT64 | st.sampled_from((-1, 0, 1, 2, 3, 32, 33))
    if family == "infer":
        contents = st.one_of(
            st.tuples(st.just("bool"), st.booleans()),
            st.tuples(st.just("int"), st.integers(-(2**31), 2**31 - 1)),
            st.tuples(st.just("int64"), INT64),
            st.tuples(st.just("uint"), UINT32),
            st.tuples(st.just("uint64"), UINT64),
            st.tuples(st.just("fp32"), st.floats(width=32)),
            st.tuples(st.just("fp64"), st.floats()),
            st.tuples(st.just("bytes"), st.binary(max_size=16)),
        )
        return st.one_of(
            _edit("model_name", texts()),
            _edit("model_version", texts() | st.sampled_from(("1", "2", "0", "01", "-1", "1.0"))),
            _edit("id", texts()),
            _edit("parameters", many, texts(), parameters()),
            _edit("input_parameters", many, texts(), parameters()),
            _edit(
                "outputs", many, texts() | st.sampled_from(("logits", "attention", "attention_index")), st.none() | parameters()
            ),
            _edit("add_inputs", many, st.booleans()),
            _edit("drop_inputs"),
            _edit("input_name", texts()),
            _edit("datatype", st.sampled_from(DATATYPES) | texts()),
            _edit("shape", st.lists(dims, max_size=6).map(tuple)),
            _edit("shape_repeat", many, dims),
            _edit("contents", contents, many),
            _edit("picture", st.integers(0, 40), pictures()),
            _edit("add_pictures", many, pictures(), st.booleans()),
            _edit("raw_entries", many, st.sampled_from((0, 1, 3, 4, 100, 10_000))),
            _edit("raw_prefix", UINT32),
            _edit("raw_cut", POSITIONS),
            _edit("value", st.integers(0, 10**6), st.floats(width=32)),
        )
    if family == "frame":
        sides = st.sampled_from((0, 1, 2, 31, 32, 33, 999, 1000, 1001, 2000)) | UINT32
        return st.one_of(
            _edit("stream_id", texts()),
            _edit("frame_index", UINT64),
            _edit("capture_time_ns", INT64),
            _edit("top_k", UINT32 | st.sampled_from((0, 1, 8, 9, 100))),
            _edit("encoded", pictures()),
            _edit("raw_dims", sides, sides, UINT32 | st.sampled_from((0, 1, 2, 3, 4, 5))),
            _edit("raw_data", counts(huge_share, 30_000_000), st.integers(0, 255)),
            _edit("raw_image", sides.filter(lambda side: side < 5000), sides.filter(lambda side: side < 5000), st.integers(0, 5)),
            _edit("clear_image"),
        )
    if family == "named":
        return st.one_of(_edit("name", texts()), _edit("version", texts() | st.sampled_from(("1", "2", "0"))))
    return None


def wire_edits(family: str, huge_share: int) -> st.SearchStrategy[Edit]:
    """One byte-level edit of a serialized request of `family`."""
    tags = REPEAT_TAGS[family] + UNKNOWN_TAGS
    return st.one_of(
        _edit("flip", POSITIONS, st.integers(0, 7)),
        _edit("insert", POSITIONS, st.binary(min_size=1, max_size=16)),
        _edit("delete", POSITIONS, st.integers(1, 64)),
        _edit("duplicate", POSITIONS, st.integers(1, 64)),
        _edit("truncate", POSITIONS),
        _edit("append", st.binary(min_size=1, max_size=32)),
        _edit("repeat", st.sampled_from(tags), counts(huge_share)),
        _edit("groups", st.integers(1, 150) | st.sampled_from((1000, 100_000))),
        _edit(
            "long_length",
            st.sampled_from((b"\x0a", b"\x2a", b"\x22", b"\xfa\x07")),
            st.sampled_from((1, 2**31 - 1, 2**32, 2**63)),
        ),
    )


def recipes(
    methods: Sequence[str], field_level: bool = True, wire_level: bool = True, huge_share: int = 0
) -> st.SearchStrategy[Recipe]:
    """Recipes for `methods` (picked by their weight), each with 1 to 3 field edits, 1 to 3 byte edits, or both (as
    the levels allow). A method whose requests have no fields gets byte edits, or none without `wire_level`."""
    nothing = st.just(())
    by_method = {}
    for name in methods:
        family = METHODS[name].family
        one_field = field_edits(family, huge_share) if field_level else None
        edits = nothing if one_field is None else st.lists(one_field, min_size=1, max_size=3).map(tuple)
        wires = st.lists(wire_edits(family, huge_share), min_size=1, max_size=3).map(tuple) if wire_level else nothing
        mixes = [(edits, nothing), (nothing, wires), (edits, wires)] if nothing not in (edits, wires) else [(edits, wires)]
        seeds = st.sampled_from(SEEDS[family])
        by_method[name] = st.one_of([st.builds(Recipe, st.just(name), seeds, *mix) for mix in mixes])
    weighted = [name for name in methods for _ in range(METHODS[name].weight)]
    return st.sampled_from(weighted).flatmap(by_method.__getitem__)


# Requests that hurt the server once (issue 20, and what this fuzzer found since): every run sends them first.
KNOWN_HOSTILE = {
    "16M-empty-inputs": Recipe("ModelInfer", "frames", wire=(Edit("repeat", (b"\x2a\x00", 16_000_000)),)),
    "16M-empty-outputs": Recipe("ModelInfer", "frames", wire=(Edit("repeat", (b"\x32\x00", 16_000_000)),)),
    "16M-empty-parameters-in-a-stream": Recipe("ModelStreamInfer", "frames", wire=(Edit("repeat", (b"\x22\x00", 16_000_000)),)),
    "long-model-name": Recipe("ModelInfer", "frames", edits=(Edit("model_name", (Repeat("a", 100_000),)),)),
    "long-input-name": Recipe("ModelInfer", "frames", edits=(Edit("input_name", (Repeat("a", 100_000),)),)),
    "long-input-names": Recipe(
        "ModelInfer", "frames", edits=(Edit("input_name", (Repeat("é", 100_000),)), Edit("add_inputs", (1, True)))
    ),
    "long-id-bad-frame": Recipe(
        "ModelInfer", "frames", edits=(Edit("id", (Repeat("a", 100_000),)), Edit("picture", (0, ("empty",))))
    ),
    "10k-shape-entries": Recipe("ModelInfer", "frames", edits=(Edit("shape_repeat", (10_000, 1)),)),
    "10k-empty-inputs": Recipe("ModelInfer", "frames", edits=(Edit("add_inputs", (10_000, False)),)),
    "long-metadata-name": Recipe("ModelMetadata", "named", edits=(Edit("name", (Repeat("a", 100_000),)),)),
    "long-config-version": Recipe("ModelConfig", "named", edits=(Edit("version", (Repeat("a", 100_000),)),)),
    "long-statistics-name": Recipe("ModelStatistics", "named", edits=(Edit("name", (Repeat("a", 100_000),)),)),
    "16-bit-png": Recipe("StreamFrames", "png", edits=(Edit("encoded", (("png-16bit-limit",),)),)),
    "30-16-bit-pngs": Recipe("ModelInfer", "frames", edits=(Edit("add_pictures", (30, ("png-16bit-limit",), True)),)),
    "model-info-garbage": Recipe("GetModelInfo", "empty", wire=(Edit("append", (b"\xff\xff\xff",)),)),
}


# Running a case and judging its answer.


@dataclass
class Case:
    """A recipe built: the messages to send (a stream's: valid, fuzzed, valid) and the fuzzed request as the server
    must read it (`parses` None: too large to parse here, so only the bounds are checked). A `bulky` request may be
    refused whole instead of answered field by field."""

    method: Method
    messages: list[bytes]
    request: Message | None
    parses: bool | None
    bulky: bool = False


def bulky(message: Message) -> bool:
    """Whether a request holds more than any valid one needs: over BULKY entries in one repeated field (tensor values
    aside) or over BULKY_TOTAL fields in all (see also `wire_fields`). A server may refuse such a request from its wire
    structure, before building it, rather than read it field by field."""
    total, pending = 0, [message]
    while pending:
        current = pending.pop()
        for descriptor, value in current.ListFields():
            if not descriptor.is_repeated:
                total += 1
                if descriptor.message_type is not None:
                    pending.append(value)
                continue
            if descriptor.containing_type.full_name == "inference.InferTensorContents" and descriptor.name != "bytes_contents":
                continue  # numbers in one packed field, bounded by the message's size
            if len(value) > BULKY:
                return True
            total += len(value)
            entry = descriptor.message_type
            if entry is not None and entry.GetOptions().map_entry:
                if entry.fields_by_name["value"].message_type is not None:
                    pending.extend(value.values())
            elif entry is not None:
                pending.extend(value)
        if total > BULKY_TOTAL:
            return True
    return False


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position, shift = position + 1, shift + 7
        if byte < 0x80:
            return value, position


def wire_fields(data: bytes, descriptor: Descriptor) -> int:
    """How many fields bytes that parse as `descriptor` hold on the wire, nested messages included; singular fields
    sent many times count each time (counting stops past BULKY_TOTAL, and a string field of more than LONG_TEXT
    bytes counts as past it). A ValueError for a group, which the server refuses before parsing."""
    total, pending = 0, [(memoryview(data), descriptor)]
    while pending and total <= BULKY_TOTAL:
        body, kind = pending.pop()
        position = 0
        while position < len(body) and total <= BULKY_TOTAL:
            key, position = _varint(body, position)
            total += 1
            wire_type = key & 7
            if wire_type == 0:
                position = _varint(body, position)[1]
            elif wire_type in (1, 5):
                position += 8 if wire_type == 1 else 4
            elif wire_type == 2:
                length, position = _varint(body, position)
                known = kind.fields_by_number.get(key >> 3)
                if known is not None and known.type == known.TYPE_STRING and length > LONG_TEXT:
                    return BULKY_TOTAL + 1  # text no valid request needs, even where a later field overrides it
                if known is not None and known.message_type is not None:
                    pending.append((body[position : position + length], known.message_type))
                position += length
            else:  # the server refuses proto2 groups (and wire types 6, 7) as broken wire format, before parsing
                raise ValueError(f"wire type {key & 7}")
    return total


def build(recipe: Recipe, material: Material) -> Case:
    """The recipe's bytes, and the fuzzed request as protobuf reads it (the oracle's view of what the server gets)."""
    method = METHODS[recipe.method]
    message = seed_message(method, recipe.seed, material)
    edits = FIELD_EDITS[method.family]
    for edit in recipe.edits:
        edits[edit.name](message, material, *edit.args)
    data = message.SerializeToString()
    for edit in recipe.wire:
        data = WIRE_EDITS[edit.name](data, *edit.args)
    messages = [data]
    if method.stream:
        before, after = (seed_message(method, recipe.seed, material, index).SerializeToString() for index in (0, 2))
        messages = [before, data, after]
    if len(data) > ORACLE_LIMIT:
        return Case(method, messages, None, None)
    try:
        request = method.request.FromString(data)
        fields = wire_fields(data, method.request.DESCRIPTOR)
    except (DecodeError, UnicodeDecodeError, ValueError):
        return Case(method, messages, None, False)
    # On the wire a repeated field may hold more entries than the parsed message shows (duplicate map keys), so any
    # request of more than BULKY fields on the wire may be over a per-field bound.
    return Case(method, messages, request, True, bulky(request) or fields > BULKY)


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    answers: list[Message]
    seconds: float


def _identity(data: bytes) -> bytes:
    return data


def send(channel: grpc.Channel, case: Case, timeout_s: float) -> Outcome:
    """Send the case's bytes as they are; the answers read until the call ended, and how it ended."""
    answers: list[Message] = []
    started = time.monotonic()
    code, details = grpc.StatusCode.OK, ""
    deserialize = case.method.response.FromString
    try:
        if case.method.stream:
            call = channel.stream_stream(case.method.path, request_serializer=_identity, response_deserializer=deserialize)
            for answer in call(iter(case.messages), timeout=timeout_s):
                answers.append(answer)
        else:
            call = channel.unary_unary(case.method.path, request_serializer=_identity, response_deserializer=deserialize)
            answers.append(call(case.messages[0], timeout=timeout_s))
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""
    return Outcome(code, details, answers, time.monotonic() - started)


def short(text: str, limit: int = 300) -> str:
    """`text` cut for a report: a 24 MB error message must not become a 24 MB assertion."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _texts(outcome: Outcome) -> list[str]:
    """What the server wrote for people: the status details and every per-frame error."""
    written = [outcome.details]
    for answer in outcome.answers:
        if isinstance(answer, pb.FrameResult):
            written.append(answer.error)
        elif isinstance(answer, kserve.ModelStreamInferResponse):
            written.append(answer.error_message)
    return written


def judge(case: Case, outcome: Outcome, material: Material, bounds: Bounds) -> list[str]:
    """What is wrong with the answer on its own: its status, its text, and what the protocol says it must be."""
    if max(map(len, case.messages)) > MAX_MESSAGE_BYTES:  # only if an edit misjudged the room: gRPC's own refusal
        return _expect(outcome, grpc.StatusCode.RESOURCE_EXHAUSTED)
    problems = []
    code = outcome.code
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        problems.append(f"no answer within {bounds.call_s:g} s")
    elif code not in CLEAN_CODES:
        problems.append(f"{code.name} after {outcome.seconds:.1f} s: {short(outcome.details)}")
    for text in _texts(outcome):
        if any(leak in text for leak in LEAKS):
            problems.append(f"an error that shows the server's insides: {short(text)}")
        if "\n" in text:
            problems.append(f"an error of more than one line: {short(text)}")
    if code in CLEAN_CODES and case.parses is not None:
        oracle = _stream_oracle if case.method.stream else _unary_oracle
        problems += oracle(case, outcome, material)
    return problems


def _expect(outcome: Outcome, *codes: grpc.StatusCode) -> list[str]:
    if outcome.code in codes:
        return []
    return [f"expected {' or '.join(code.name for code in codes)}, got {outcome.code.name}: {short(outcome.details)}"]


def _unary_oracle(case: Case, outcome: Outcome, material: Material) -> list[str]:
    """What the protocol says a unary call answers: INVALID_ARGUMENT to bytes that do not parse, NOT_FOUND to another
    model's name, OK or INVALID_ARGUMENT to the served model, and a frame's own result (echoing it) to Predict."""
    name = case.method.path.rsplit("/", 1)[1]
    ok, invalid, missing = grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    if not case.parses or (case.bulky and outcome.code == invalid):
        return _expect(outcome, invalid)
    request = case.request
    if case.method.family == "empty":
        return _expect(outcome, ok)
    if case.method.family == "named":
        served = material.serves(request.name, request.version)
        if name == "ModelReady":
            problems = _expect(outcome, ok)
            if not problems and outcome.answers[0].ready != served:
                problems.append(f"ready={outcome.answers[0].ready} for a model the server does{'' if served else ' not'} serve")
            return problems
        return _expect(outcome, ok if served or (name == "ModelStatistics" and not request.name) else missing)
    if name == "ModelInfer":
        if not material.serves(request.model_name, request.model_version):
            return _expect(outcome, missing)
        problems = _expect(outcome, ok, invalid)
        if outcome.code == ok:
            problems += _infer_answer_problems(outcome.answers[0], request.id)
        return problems
    problems = _expect(outcome, ok)
    if outcome.code == ok:
        problems += _frame_answer_problems(outcome.answers[0], request, must_succeed=False)
    return problems


def _infer_answer_problems(response: kserve.ModelInferResponse, request_id: str) -> list[str]:
    problems = []
    if response.id != request_id:
        problems.append(f"answer id {short(response.id, 40)!r} for request {short(request_id, 40)!r}")
    if not response.outputs or len(response.outputs) != len(response.raw_output_contents):
        problems.append(f"an OK answer with {len(response.outputs)} outputs and {len(response.raw_output_contents)} contents")
    return problems


def _frame_answer_problems(result: pb.FrameResult, frame: pb.Frame, must_succeed: bool) -> list[str]:
    problems = []
    if (result.stream_id, result.frame_index, result.capture_time_ns) != (
        frame.stream_id,
        frame.frame_index,
        frame.capture_time_ns,
    ):
        problems.append(
            f"result for frame {result.frame_index} ({short(result.stream_id, 40)!r}) answers frame {frame.frame_index}"
        )
    if bool(result.error) == bool(result.top_k):
        problems.append(f"a result with error={short(result.error)!r} and {len(result.top_k)} classes")
    if must_succeed and result.error:
        problems.append(f"a valid frame failed: {short(result.error)}")
    return problems


def _stream_oracle(case: Case, outcome: Outcome, material: Material) -> list[str]:
    """Valid, fuzzed, valid: the first is answered; a fuzzed request that parses gets an answer of its own and the
    stream goes on to answer the third; one that does not parse (or a bulky one refused whole) ends the stream
    with INVALID_ARGUMENT."""
    answers = outcome.answers
    whole = not case.parses or (case.bulky and outcome.code == grpc.StatusCode.INVALID_ARGUMENT)
    expected = 1 if whole else 3
    problems = _expect(outcome, grpc.StatusCode.INVALID_ARGUMENT if whole else grpc.StatusCode.OK)
    if len(answers) != expected:
        return [*problems, f"{len(answers)} answers to a stream that should have {expected}"]
    frames = case.method.family == "frame"
    for index in (0,) if whole else (0, 2):
        if frames:
            sent = pb.Frame.FromString(case.messages[index])
            problems += [f"valid frame {index}: {p}" for p in _frame_answer_problems(answers[index], sent, must_succeed=True)]
        elif answers[index].error_message or answers[index].infer_response.id != STREAM_IDS[index]:
            problems.append(f"valid request {STREAM_IDS[index]!r} got {short(str(answers[index]), 200)!r}")
    if not whole:
        middle, request = answers[1], case.request
        if frames:
            problems += [f"fuzzed frame: {p}" for p in _frame_answer_problems(middle, request, must_succeed=False)]
        elif bool(middle.error_message) == middle.HasField("infer_response"):
            problems.append(
                f"fuzzed request: an answer with both or neither of an error and a response: {short(str(middle), 200)}"
            )
        elif not material.serves(request.model_name, request.model_version) and not middle.error_message:
            problems.append("fuzzed request for another model was answered")
        elif middle.HasField("infer_response"):
            problems += [f"fuzzed request: {p}" for p in _infer_answer_problems(middle.infer_response, request.id)]
    return problems


# The server under test, watched while the cases run.


def status_mb(pid: int, key: str) -> float | None:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM) in MB; None once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return None


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS, so each case's peak is its own (proc(5), clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


class Prober:
    """Health Check and GetModelInfo in turn every 20 ms, on a connection of its own: the longest wait between two
    answers is how long the server kept a client that did nothing wrong waiting."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-prober", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        info = self.channel.unary_unary(
            AIB_V1 + "GetModelInfo", pb.GetModelInfoRequest.SerializeToString, pb.ModelInfo.FromString
        )
        probes = itertools.cycle(
            (
                lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=60),
                lambda: info(pb.GetModelInfoRequest(), timeout=60),
            )
        )
        while not self._stop.wait(PROBE_INTERVAL_S):
            try:
                next(probes)()
            except grpc.RpcError:
                continue  # an unanswered probe only makes the gap longer
            except ValueError:
                return  # `stop` closed the channel between two probes
            with self._lock:
                now = time.monotonic()
                self._worst = max(self._worst, now - self._last)
                self._last = now

    def restart(self) -> None:
        """Measure from now on."""
        with self._lock:
            self._worst, self._last = 0.0, time.monotonic()

    def worst_gap_s(self) -> float:
        """The longest wait since `restart`, counting one still going on."""
        with self._lock:
            return max(self._worst, time.monotonic() - self._last)

    def stop(self) -> None:
        self._stop.set()
        self.channel.close()
        self._thread.join()


class MemoryGuard:
    """Reads the server's RSS every 20 ms and kills it past `limit_mb`; keeps the largest RSS it read."""

    def __init__(self, process: subprocess.Popen, limit_mb: float) -> None:
        self.process, self.limit_mb = process, limit_mb
        self.largest_mb = 0.0
        self.killed_at_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzz-memory-guard", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            rss = status_mb(self.process.pid, "VmRSS")
            if rss is None:
                return
            self.largest_mb = max(self.largest_mb, rss)
            if rss > self.limit_mb:
                self.killed_at_mb = rss
                self.process.kill()
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Verdict:
    """One case's result: how the call ended, what it cost the server, and every bound or rule it broke."""

    recipe: Recipe
    code: grpc.StatusCode
    details: str
    seconds: float
    peak_mb: float
    stall_ms: float
    crashed: bool
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            repr(self.recipe),
            f"  answered {self.code.name} in {self.seconds:.2f} s ({short(self.details, 200)!r}); server peak "
            f"{self.peak_mb:.0f} MB, prober waited up to {self.stall_ms:.0f} ms",
        ]
        return "\n".join(lines + [f"  - {problem}" for problem in self.problems])


class FuzzServer:
    """One `aib serve` for a whole run, with a prober and a memory guard. A case that kills the server, wedges it or
    leaves it over the memory bound gets a fresh one, so one defect does not fail every later case."""

    def __init__(
        self, model: Path, bounds: Bounds | None = None, max_pixels: int = MAX_PIXELS, flags: Sequence[str] = ()
    ) -> None:
        """`max_pixels`: the server's --max-pixels (the pictures at the limit are made to it); `flags`: more of its flags."""
        self.model, self.flags = model, ("--max-pixels", str(max_pixels), *flags)
        self.bounds = bounds or Bounds()
        self.restarts = 0
        self._start()
        try:
            self.material = Material.of(self.server, self.channel, max_pixels)
        except BaseException:
            self._stop()  # a server that cannot describe its model must not outlive the run
            raise

    def _start(self) -> None:
        self.server = ServerProcess(self.model, *self.flags)
        self.channel = grpc.insecure_channel(
            self.server.address,
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.prober = Prober(self.server.address)
        self.guard = MemoryGuard(self.server.process, self.bounds.kill_above_mb)
        self._stderr_at = 0

    def _stop(self) -> None:
        self.prober.stop()
        self.guard.stop()
        self.channel.close()
        if self.server.process.poll() is None:
            self.server.process.kill()
        self.server.stop(signalled=True)

    def restart(self) -> None:
        self._stop()
        self.restarts += 1
        self._start()

    def close(self) -> None:
        self.prober.stop()
        self.guard.stop()
        self.channel.close()
        try:
            self.server.stop()
        except subprocess.TimeoutExpired:
            self.server.process.kill()
            self.server.stop(signalled=True)

    def __enter__(self) -> FuzzServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, recipe: Recipe) -> Verdict:
        """Send one case and judge it, then restore a usable server if the case broke this one."""
        case = build(recipe, self.material)
        pid = self.server.process.pid
        reset_peak(pid)
        self.prober.restart()
        outcome = send(self.channel, case, self.bounds.call_s)
        problems = judge(case, outcome, self.material, self.bounds)
        trouble = self._trouble()
        stall_ms = self.prober.worst_gap_s() * 1e3
        peak_mb = max(status_mb(pid, "VmHWM") or 0.0, self.guard.largest_mb if trouble else 0.0)
        if stall_ms > self.bounds.stall_ms:
            problems.append(f"the prober waited {stall_ms:.0f} ms for an answer (bound {self.bounds.stall_ms:g} ms)")
        if peak_mb > self.bounds.rss_mb:
            problems.append(f"the server's RSS peaked at {peak_mb:.0f} MB (bound {self.bounds.rss_mb:g} MB)")
        problems += self._logged_problems()
        if trouble:
            problems.append(trouble)
        left_mb = status_mb(pid, "VmRSS")
        if trouble or left_mb is None or left_mb > self.bounds.rss_mb:
            self.restart()
        return Verdict(recipe, outcome.code, outcome.details, outcome.seconds, peak_mb, stall_ms, bool(trouble), problems)

    def _trouble(self) -> str:
        """Why the server is no longer usable ("" if it is): dead, killed by the guard, or not answering health."""
        process = self.server.process
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(), timeout=self.bounds.call_s)
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.RpcError:
            serving = False
        if self.guard.killed_at_mb is not None:
            return f"the server passed {self.guard.killed_at_mb:.0f} MB and the fuzzer's guard killed it"
        if process.poll() is not None:
            return f"the server died (exit code {process.returncode}): {short(self.server.read_stderr()[-500:])}"
        return "" if serving else f"the server did not answer a health check within {self.bounds.call_s:g} s"

    def _logged_problems(self) -> list[str]:
        """A traceback the server wrote to stderr during the case (libjpeg's warnings are fine)."""
        stderr = self.server.stderr
        stderr.seek(self._stderr_at)
        logged = stderr.read()
        self._stderr_at = stderr.tell()
        if "Traceback" in logged:
            return [f"the server logged a traceback: {short(logged.strip().splitlines()[-1])}"]
        return []

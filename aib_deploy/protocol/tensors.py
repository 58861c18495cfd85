"""Contract tensors <-> the runtime's frames and predictions, for every server that speaks in tensors:
`aib serve`'s KServe v2 endpoint and the Triton Python-backend models `aib export triton` writes.

A request carries one input: `images` (normalized rows, exactly the ONNX input) or `frames` (one encoded
JPEG or PNG per row, header-checked, then decoded where the caller chooses: a thread pool in `aib serve`).
An answer holds the contract's outputs as the signature types them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import grpc
import numpy as np

from ..contract import FRAMES_INPUT, INPUT_NAME
from ..media.image_size import WIRE_CHANNELS, ImageHeaderError, check_image, decode_wire_image
from ..runtime import Normalized, Prediction
from ..runtime.predictor import Frame
from ..runtime.preprocess import FrameError
from .signature import ModelSignature

ECHO_CHARACTERS = 64  # of a client's string quoted back in an error: a status must fit gRPC's trailer


def echoed(text: str) -> str:
    """A client's string as an error message quotes it: its first ECHO_CHARACTERS, and its length when
    cut. A 100,000-character model name must not turn NOT_FOUND into a broken trailer."""
    if len(text) <= ECHO_CHARACTERS:
        return repr(text)
    return f"{text[:ECHO_CHARACTERS]!r}... ({len(text)} characters)"


class RequestError(FrameError):
    """A request the protocol refuses, alone (the other requests go on): a gRPC status code and one line."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Rows:
    """A request's rows: a decoder per row, whether they decode encoded pictures (slow: a pool's work), and
    the bytes each row holds in flight."""

    input: str
    decoders: list[Callable[[], Frame]]
    encoded: bool
    costs: list[int]

    @property
    def cost(self) -> int:
        return sum(self.costs)

    def decoded(self) -> list[Frame]:
        return [decode() for decode in self.decoders]


def one_input_error(signature: ModelSignature, got: str) -> RequestError:
    """A request without exactly one of the two inputs; `got` names what it had."""
    return RequestError(f"expected one input, {signature.images.described()} or {signature.frames.described()}, got {got}")


def image_rows(array: np.ndarray) -> Rows:
    """Rows of an `images` tensor whose dtype and shape were checked."""
    array = np.asarray(array, np.float32)
    return Rows(INPUT_NAME, [partial(Normalized, row) for row in array], encoded=False, costs=[row.nbytes for row in array])


def frame_rows(items: Sequence[bytes], max_pixels: int) -> Rows:
    """Rows of a `frames` tensor: each decoded later, and refused from its header past `max_pixels`."""
    data = [bytes(item) for item in items]  # Triton hands numpy bytes_ items; KServe's are bytes already
    decoders = [partial(decode_wire_image, item, max_pixels, f"{FRAMES_INPUT}[{row}]") for row, item in enumerate(data)]
    return Rows(FRAMES_INPUT, decoders, encoded=True, costs=[encoded_cost(item, max_pixels) for item in data])


def encoded_cost(data: bytes, max_pixels: int) -> int:
    """An encoded picture's bytes in flight: the payload plus the decoded picture its header declares (none if
    the header refuses it: such a frame is never decoded). Both protocols count frames this way."""
    try:
        decoded = check_image(data, max_pixels).pixels * WIRE_CHANNELS
    except ImageHeaderError:
        decoded = 0
    return len(data) + decoded


def output_tensors(
    predictions: Sequence[Prediction], signature: ModelSignature, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The contract's outputs (all, or `names`) for predicted rows, [N, *dims] in the signature's dtypes."""
    tensors = {}
    for name in signature.output_names if names is None else names:
        spec = signature.output(name)
        if name == "logits":
            values = [p.logits for p in predictions]
        else:
            values = [(p.attention if name == "attention" else p.anchor_index)[None] for p in predictions]
        tensors[name] = np.stack(values).astype(spec.dtype, copy=False)
    return tensors


def classification(predictions: Sequence[Prediction], count: int, labels: Sequence[str]) -> list[list[bytes]]:
    """Triton's classification extension on `logits`: per row the top `count` classes as
    `score:index:label`, highest first."""
    rows = []
    for logits in (p.logits for p in predictions):
        top = np.argsort(-logits, kind="stable")[: min(count, len(logits))]
        rows.append([f"{logits[index]:f}:{index}:{labels[index]}".encode() for index in top])
    return rows

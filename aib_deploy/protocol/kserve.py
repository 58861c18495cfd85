"""KServe v2 messages <-> the contract's tensors: parsing ModelInferRequest, building its response and the
model's metadata, all from the model's signature.

A request carries one input, as Triton's ONNX model or an ensemble would take it:
- `images`: FP32 [N, 3, H, W], normalized NCHW, exactly the ONNX contract's input;
- `frames`: BYTES [N] or [N, 1], one encoded JPEG or PNG per row.
The answer holds the contract's outputs, each as Triton returns it (raw little-endian contents);
Triton's classification extension applies to `logits`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import grpc
import numpy as np

from ..contract import FRAMES_INPUT, INPUT_NAME
from ..runtime import Prediction
from .generated import grpc_service_pb2 as kserve
from .signature import LABELLED_OUTPUT, ModelSignature, TensorSpec
from .tensors import RequestError, Rows, classification, echoed, frame_rows, image_rows, one_input_error, output_tensors

ECHOED_INPUTS = 4  # input names quoted back when a request has the wrong ones
CLASSIFICATION = "classification"  # the output parameter of Triton's classification extension
LENGTH = struct.Struct("<I")  # a BYTES element's length prefix in raw contents
LITTLE_ENDIAN = {"float32": "<f4", "int32": "<i4"}


@dataclass
class InferCall:
    """A parsed request: its rows and the outputs to return (name -> classification count, 0 for the tensor)."""

    request_id: str
    rows: Rows
    outputs: dict[str, int] = field(default_factory=dict)


def parse_infer(request: kserve.ModelInferRequest, signature: ModelSignature, max_pixels: int) -> InferCall:
    """The request's rows and outputs, or a RequestError with the protocol's status code."""
    check_model(request.model_name, request.model_version, signature)
    if len(request.inputs) != 1:
        names = [echoed(tensor.name) for tensor in request.inputs[:ECHOED_INPUTS]]
        more = f" and {len(request.inputs) - ECHOED_INPUTS} more" if len(request.inputs) > ECHOED_INPUTS else ""
        raise one_input_error(signature, ", ".join(names) + more or "none")
    if request.raw_input_contents and len(request.raw_input_contents) != 1:
        raise RequestError(f"raw_input_contents: expected 1 entry (one per input), got {len(request.raw_input_contents)}")
    tensor = request.inputs[0]
    raw = request.raw_input_contents[0] if request.raw_input_contents else None
    if tensor.name == INPUT_NAME:
        rows = image_rows(images_array(tensor, raw, signature))
    elif tensor.name == FRAMES_INPUT:
        rows = frame_rows(frame_items(tensor, raw, signature), max_pixels)
    else:
        raise RequestError(f"input {echoed(tensor.name)}: unknown; this model takes {INPUT_NAME!r} or {FRAMES_INPUT!r}")
    return InferCall(request.id, rows, requested_outputs(request, signature))


def check_model(name: str, version: str, signature: ModelSignature) -> None:
    if signature.serves(name, version):
        return
    if name != signature.name:
        raise RequestError(
            f"model {echoed(name)}: not served here; this server serves {signature.name!r}", grpc.StatusCode.NOT_FOUND
        )
    raise RequestError(
        f"model {echoed(name)} version {echoed(version)}: not served here; this server serves version {signature.version}",
        grpc.StatusCode.NOT_FOUND,
    )


def batch_rows(
    tensor: kserve.ModelInferRequest.InferInputTensor, spec: TensorSpec, shape: list[int], signature: ModelSignature
) -> int:
    """The rows of a tensor of `spec`'s datatype whose shape must be [N, *shape], N within the model's batch limit."""
    if tensor.datatype != spec.datatype:
        raise RequestError(f"input {spec.name!r}: expected datatype {spec.datatype}, got {echoed(tensor.datatype)}")
    got = list(tensor.shape)
    if len(got) != 1 + len(shape) or got[1:] != shape:
        described = "[N" + "".join(f", {dim}" for dim in shape) + "]"
        raise RequestError(f"input {spec.name!r}: expected shape {described}, got {got}")
    if not 1 <= got[0] <= signature.max_batch:
        raise RequestError(
            f"input {spec.name!r}: expected 1 to {signature.max_batch} rows (the model's largest batch), got {got[0]}"
        )
    return got[0]


def images_array(tensor, raw: bytes | None, signature: ModelSignature) -> np.ndarray:
    spec = signature.images
    rows = batch_rows(tensor, spec, list(spec.dims), signature)
    values = rows * int(np.prod(spec.dims))
    if raw is not None:
        if len(raw) != values * 4:
            raise RequestError(
                f"input {INPUT_NAME!r}: shape {list(tensor.shape)} needs {values * 4} bytes of FP32, got {len(raw)}"
            )
        array = np.frombuffer(raw, "<f4")
    else:
        array = np.asarray(tensor.contents.fp32_contents, np.float32)
        if array.size != values:
            raise RequestError(
                f"input {INPUT_NAME!r}: shape {list(tensor.shape)} needs {values} values in fp32_contents, got {array.size}"
            )
    return array.reshape(rows, *spec.dims)


def frame_items(tensor, raw: bytes | None, signature: ModelSignature) -> list[bytes]:
    rows = batch_rows(tensor, signature.frames, [1] if len(tensor.shape) == 2 else [], signature)
    items = split_bytes(raw, tensor.name) if raw is not None else list(tensor.contents.bytes_contents)
    if len(items) != rows:
        raise RequestError(f"input {FRAMES_INPUT!r}: shape {list(tensor.shape)} needs {rows} elements, got {len(items)}")
    return items


def split_bytes(raw: bytes, name: str) -> list[bytes]:
    """A BYTES tensor's raw contents: each element a 4-byte little-endian length, then its bytes."""
    items, offset = [], 0
    while offset < len(raw):
        if offset + LENGTH.size > len(raw):
            raise RequestError(f"input {name!r}: raw contents end inside a length prefix")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > len(raw):
            raise RequestError(f"input {name!r}: element {len(items)} declares {length} bytes, {len(raw) - offset} remain")
        items.append(raw[offset : offset + length])
        offset += length
    return items


def join_bytes(items: list[bytes]) -> bytes:
    return b"".join(LENGTH.pack(len(item)) + item for item in items)


def classification_count(output: kserve.ModelInferRequest.InferRequestedOutputTensor) -> int:
    """The output's `classification` parameter (Triton's extension: how many top classes), 0 when absent;
    one of another kind (a string, a bool) is refused, not ignored."""
    if CLASSIFICATION not in output.parameters:
        return 0
    parameter = output.parameters[CLASSIFICATION]
    kind = parameter.WhichOneof("parameter_choice")
    if kind not in ("int64_param", "uint64_param"):
        raise RequestError(f"output {echoed(output.name)}: parameter {CLASSIFICATION!r} must be an integer, got {kind}")
    return getattr(parameter, kind)


def requested_outputs(request: kserve.ModelInferRequest, signature: ModelSignature) -> dict[str, int]:
    if not request.outputs:
        return dict.fromkeys(signature.output_names, 0)
    outputs = {}
    for output in request.outputs:
        if output.name not in signature.output_names:
            raise RequestError(f"output {echoed(output.name)}: unknown; this model has {', '.join(signature.output_names)}")
        count = classification_count(output)
        if count and output.name != LABELLED_OUTPUT:
            raise RequestError(f"output {echoed(output.name)}: the classification extension applies to {LABELLED_OUTPUT!r} only")
        if count < 0:
            raise RequestError(f"output {echoed(output.name)}: classification count must be positive, got {count}")
        outputs[output.name] = count
    return outputs


def infer_response(call: InferCall, predictions: list[Prediction], signature: ModelSignature) -> kserve.ModelInferResponse:
    """The response for a call whose every row was predicted."""
    response = kserve.ModelInferResponse(model_name=signature.name, model_version=signature.version, id=call.request_id)
    tensors = output_tensors(predictions, signature, [name for name, count in call.outputs.items() if not count])
    for name, count in call.outputs.items():
        if count:
            entries = classification(predictions, count, signature.card.labels)
            shape, datatype = [len(predictions), len(entries[0])], "BYTES"
            contents = join_bytes([entry for row in entries for entry in row])
        else:
            tensor = tensors[name]
            shape, datatype = list(tensor.shape), signature.output(name).datatype
            contents = tensor.astype(LITTLE_ENDIAN[tensor.dtype.name], copy=False).tobytes()
        response.outputs.add(name=name, datatype=datatype, shape=shape)
        response.raw_output_contents.append(contents)
    return response


def model_metadata(signature: ModelSignature, platform: str) -> kserve.ModelMetadataResponse:
    metadata = kserve.ModelMetadataResponse(name=signature.name, versions=[signature.version], platform=platform)
    for spec in (signature.images, signature.frames):
        metadata.inputs.add(name=spec.name, datatype=spec.datatype, shape=[-1, *spec.dims])
    for spec in signature.outputs:
        metadata.outputs.add(name=spec.name, datatype=spec.datatype, shape=[-1, *spec.dims])
    return metadata

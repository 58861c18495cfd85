"""`aib.v1` messages <-> arrays: the only place that knows both our own wire format and the runtime's types,
for the server (frames in, results out) and the client (frames out, results in)."""

from __future__ import annotations

import time

import cv2
import numpy as np

from .. import __version__
from ..card.model_card import ModelCard
from ..media.image_size import decode_wire_image
from ..runtime.preprocess import FrameError
from ..runtime.result import ClassScore, Prediction, index_dtype
from .generated import attention_pb2 as pb
from .malformed import MalformedMessage
from .tensors import encoded_cost

RAW_CHANNELS = (1, 3, 4)
JPEG_QUALITY = 90
INDEX_TYPES = {1: np.uint8, 4: np.dtype("<i4")}  # AttentionMap.index_bytes -> the type of each anchor index


def frame_cost(frame: pb.Frame | MalformedMessage, max_pixels: int) -> int:
    """Bytes a frame holds while in flight: its payload, plus the decoded picture its header declares."""
    if isinstance(frame, MalformedMessage):
        return 0
    if frame.WhichOneof("image") == "raw":
        return len(frame.raw.data)
    return encoded_cost(frame.encoded, max_pixels)


def frame_message(stream_id: str, index: int, image: np.ndarray | bytes, raw: bool) -> pb.Frame:
    """A client's Frame: the image as JPEG, or as raw pixels with `raw`; `bytes` are an encoded image
    already (a JPEG or PNG file's contents), sent as they are."""
    frame = pb.Frame(stream_id=stream_id, frame_index=index, capture_time_ns=time.time_ns())
    if isinstance(image, bytes):
        frame.encoded = image
    elif raw:
        channels = 1 if image.ndim == 2 else image.shape[2]
        frame.raw.CopyFrom(pb.RawImage(data=image.tobytes(), height=image.shape[0], width=image.shape[1], channels=channels))
    else:
        _ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        frame.encoded = data.tobytes()
    return frame


def decode_frame(frame: pb.Frame, max_pixels: int) -> np.ndarray:
    """The frame's image as a uint8 array, or a FrameError naming what is wrong with it."""
    kind = frame.WhichOneof("image")
    if kind is None:
        raise FrameError("frame: no image (set `encoded` or `raw`)")
    if kind == "raw":
        raw = frame.raw
        if raw.channels not in RAW_CHANNELS:
            raise FrameError(f"raw image: channels must be 1, 3 or 4, got {raw.channels}")
        if raw.height * raw.width > max_pixels:
            raise FrameError(f"raw image: {raw.width}x{raw.height} exceeds the limit of {max_pixels} pixels")
        expected = raw.height * raw.width * raw.channels
        if len(raw.data) != expected or expected == 0:
            raise FrameError(f"raw image: {raw.height}x{raw.width}x{raw.channels} needs {expected} bytes, got {len(raw.data)}")
        return np.frombuffer(raw.data, np.uint8).reshape(raw.height, raw.width, raw.channels)
    return decode_wire_image(frame.encoded, max_pixels)


def frame_result(frame: pb.Frame, prediction: Prediction, decode_ms: float = 0.0, queue_ms: float = 0.0) -> pb.FrameResult:
    result = pb.FrameResult(
        stream_id=frame.stream_id, frame_index=frame.frame_index, capture_time_ns=frame.capture_time_ns, error=prediction.error
    )
    if not prediction.ok:
        return result
    for score in prediction.top_k:
        result.top_k.add(class_index=score.class_index, label=score.label, score=score.score)
    attention = prediction.attention
    result.attention.height, result.attention.width = attention.shape
    result.attention.values.extend(attention.ravel().tolist())
    if prediction.anchor_index is not None:
        result.attention.anchors.extend(prediction.anchors)
        dtype = index_dtype(len(prediction.anchors))
        result.attention.indices = prediction.anchor_index.astype(dtype).tobytes()
        result.attention.index_bytes = dtype.itemsize
    timings = prediction.timings_ms
    result.timings.CopyFrom(
        pb.StageTimings(
            decode_ms=decode_ms,
            queue_ms=queue_ms,
            preprocess_ms=timings.get("preprocess", 0.0),
            inference_ms=timings.get("inference", 0.0),
            postprocess_ms=timings.get("postprocess", 0.0),
            batch_size=prediction.batch_size,
        )
    )
    return result


def model_info(card: ModelCard, backend: str) -> pb.ModelInfo:
    import onnxruntime

    return pb.ModelInfo(
        architecture=card.architecture.name,
        labels=list(card.labels),
        input_height=card.input_size,
        input_width=card.input_size,
        att_dim=card.att_dim,
        anchors=list(card.anchors or ()),
        backend=backend,
        versions={"aib_deploy": __version__, "onnxruntime": onnxruntime.__version__, "model_aib_deploy": card.aib_deploy_version},
        model_card_json=card.to_json(),
    )


def prediction_from_result(result: pb.FrameResult) -> Prediction:
    """A client's view of a FrameResult as the runtime's Prediction (what annotation and scoring read)."""
    if result.error:
        return Prediction(error=result.error)
    shape = (result.attention.height, result.attention.width)
    prediction = Prediction(
        top_k=[ClassScore(c.class_index, c.label, c.score) for c in result.top_k],
        attention=np.asarray(result.attention.values, np.float32).reshape(shape),
        timings_ms={
            "decode": result.timings.decode_ms,
            "queue": result.timings.queue_ms,
            "preprocess": result.timings.preprocess_ms,
            "inference": result.timings.inference_ms,
            "postprocess": result.timings.postprocess_ms,
        },
        batch_size=result.timings.batch_size,
    )
    if result.attention.indices:
        width = result.attention.index_bytes or 1
        if width not in INDEX_TYPES:
            raise ValueError(f"FrameResult.attention.index_bytes: expected 1 or 4, got {width}")
        prediction.anchor_index = np.frombuffer(result.attention.indices, INDEX_TYPES[width]).reshape(shape)
        prediction.anchors = tuple(result.attention.anchors)
    return prediction

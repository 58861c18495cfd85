"""`aib stream SERVER VIDEO|CAMERA`: annotated video, JSON lines and latency percentiles."""
from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from google.protobuf.json_format import MessageToDict

from ..annotate import annotate
from ..errors import AibError
from ..media import VideoReader, VideoWriter
from ..progress import Progress
from ..runtime.result import ClassScore, Prediction
from .client import FrameStreamer


def camera_frames(index: int) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise AibError(f"camera {index}: cannot open it")
    try:
        while (read := capture.read())[0]:
            yield read[1]
    finally:
        capture.release()


def as_prediction(result) -> Prediction:
    """Just what the annotator draws, rebuilt from a FrameResult."""
    if result.error:
        return Prediction(error=result.error)
    attention = np.asarray(result.attention.values, np.float32).reshape(result.attention.height, result.attention.width)
    top_k = [ClassScore(c.class_index, c.label, c.score) for c in result.top_k]
    return Prediction(top_k=top_k, attention=attention)


def run_stream(args: argparse.Namespace) -> None:
    if args.source.isdigit():
        frames, fps, total = camera_frames(int(args.source)), 30.0, None
    else:
        reader = VideoReader(args.source)
        frames, fps, total = iter(reader), reader.fps, reader.frame_count or None
    writer = VideoWriter(args.output, fps) if args.output else None
    results_path = Path(args.results) if args.results else None
    results = open(results_path, "w", encoding="utf-8") if results_path else None
    progress = Progress(total)

    def on_result(image, result, latency_ms: float) -> None:
        progress.update()
        if results is not None:
            record = MessageToDict(result, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
            # proto3's JSON mapping writes 64-bit integers as strings; JSON lines readers want numbers.
            record.update(frame_index=result.frame_index, capture_time_ns=result.capture_time_ns)
            record["latency_ms"] = round(latency_ms, 3)
            results.write(json.dumps(record) + "\n")
        if writer is not None and image is not None:
            writer.write(annotate(image, as_prediction(result), fps=progress.rate))

    streamer = FrameStreamer(args.server, token=args.token, tls_ca=args.tls_ca, raw=args.raw)
    try:
        stats = streamer.run(enumerate(frames), on_result)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
        if results is not None:
            results.close()
    print(f"frames sent {stats.sent}, answered {stats.answered}, errors {stats.errors}, reconnects {stats.reconnects}")
    print(f"end-to-end latency ms: p50 {stats.percentile(50):.2f}, p90 {stats.percentile(90):.2f}, "
          f"p99 {stats.percentile(99):.2f}; {progress.rate:.1f} frames/s")  # fmt: skip

"""`aib stream SERVER VIDEO|CAMERA`: annotated video, JSON lines and latency percentiles."""
from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import AibError
from ..media.annotate import annotate
from ..media.io import VideoReader, VideoWriter
from ..progress import Progress
from .options import add_token_option, token


def add_stream_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stream",
        help="stream a video or camera to an aib server; write the annotated video and JSON lines",
        description="Reads frames with OpenCV, streams them to SERVER (host:port), writes the annotated video "
        "and per-frame JSON lines, shows progress, and reports end-to-end latency percentiles. "
        "Reconnects when the server restarts and goes on with the next frame.",
    )
    parser.add_argument("server", help="host:port of `aib serve`")
    parser.add_argument("source", help="a video file, or a camera index such as 0")
    parser.add_argument("-o", "--output", help="annotated .mp4 to write")
    parser.add_argument("--results", help="JSON-lines file of the FrameResults")
    add_token_option(parser, "bearer token")
    parser.add_argument("--tls-ca", help="PEM root certificate: connect with TLS")
    parser.add_argument("--raw", action="store_true", help="send raw pixels instead of JPEG")
    parser.set_defaults(handler=run_stream)


def camera_frames(index: int) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise AibError(f"camera {index}: cannot open it")
    try:
        while (read := capture.read())[0]:
            yield read[1]
    finally:
        capture.release()


def run_stream(args: argparse.Namespace) -> None:
    from google.protobuf.json_format import MessageToDict

    from ..serving.client import FrameStreamer
    from ..serving.convert import prediction_from_result

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
            writer.write(annotate(image, prediction_from_result(result), fps=progress.rate))

    streamer = FrameStreamer(args.server, token=token(args), tls_ca=args.tls_ca, raw=args.raw)
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

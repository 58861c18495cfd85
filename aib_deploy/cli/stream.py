"""`aib stream SERVER VIDEO|CAMERA`: annotated video, JSON lines and latency percentiles."""

from __future__ import annotations

import argparse
import functools
import itertools
import sys

from ..errors import AibError
from ..media.annotate import annotate
from ..media.io import CAMERA_FPS, VIDEO_SUFFIX, VideoReader, VideoWriter, camera_frames
from ..progress import Progress
from ..runtime.results_file import STDOUT, ResultsFile, messages_stream
from .options import add_client_options, add_failure_option, check_failures, server_address, token
from .paths import InputPath, OutputPath, create_folder, refuse_overwriting


def add_stream_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stream",
        help="stream a video or camera to an aib server; write the annotated video and JSON lines",
        description="Reads frames with OpenCV, streams them to SERVER (host:port), writes the annotated video "
        "and per-frame JSON lines, shows progress, and reports end-to-end latency percentiles. "
        "Reconnects when the server restarts and goes on with the next frame.",
    )
    parser.add_argument("server", type=server_address, help="HOST:PORT of `aib serve`")
    parser.add_argument("source", type=InputPath(sources=True), help="a video file, or a camera index such as 0")
    parser.add_argument("-o", "--output", type=OutputPath(suffixes=(VIDEO_SUFFIX,)), help="annotated .mp4 to write")
    parser.add_argument("--results", type=OutputPath(), help="JSON-lines file in the result schema (- for standard output)")
    add_client_options(parser, reconnects=True)
    parser.add_argument("--raw", action="store_true", help="send raw pixels instead of JPEG")
    add_failure_option(parser)
    parser.set_defaults(handler=run_stream)


def run_stream(args: argparse.Namespace) -> None:
    from ..card.model_card import ModelCard
    from ..protocol.aib_v1 import prediction_from_result
    from ..serving.client import FrameStreamer

    def event(text: str) -> None:
        print(f"aib stream: {text}", file=sys.stderr, flush=True)

    streamer = FrameStreamer(
        args.server, token=token(args), tls_ca=args.tls_ca, raw=args.raw, connect_timeout_s=args.connect_timeout, on_event=event
    )
    if args.source.isdigit():
        frames, fps, total = camera_frames(int(args.source)), CAMERA_FPS, None
    else:
        reader = VideoReader(args.source)
        frames, fps, total = iter(reader), reader.fps, reader.frame_count or None
    refuse_overwriting({"-o": args.output, "--results": args.results}, {"SOURCE": args.source})
    for flag, output in (("-o", args.output), ("--results", args.results)):
        if output and output != STDOUT:  # a place that cannot be written fails here, before connecting
            create_folder(flag, output, of_file=True)
    first = next(frames, None)  # a source without a frame fails here, before connecting
    if first is None:
        raise AibError(f"{args.source}: no frame could be read")
    frames = itertools.chain([first], frames)
    event(f"connecting to {args.server} (up to {args.connect_timeout:g} s)")
    info = streamer.model_info()
    card = ModelCard.from_json(info.model_card_json, source=f"server {args.server}")
    event(f"connected: {info.architecture} on {info.backend}")
    writer = VideoWriter(args.output, fps) if args.output else None
    results = ResultsFile(args.results, card, info.backend) if args.results else None
    progress = Progress(total)

    def on_result(image, result, latency_ms: float) -> None:
        progress.update()
        prediction = prediction_from_result(result)
        if results is not None:
            results.write(prediction, result.stream_id, result.frame_index, latency_ms=latency_ms)
        if writer is not None and image is not None:
            writer.write(annotate(image, prediction, fps=progress.rate))

    say = functools.partial(print, file=messages_stream(args.results))
    try:
        stats = streamer.run(enumerate(frames), on_result)
    finally:
        progress.close()
        if writer is not None:
            writer.close()
        if results is not None:
            results.close()
        counts = streamer.stats  # said even when the stream ends in an error: what was done is not lost
        say(f"frames sent {counts.sent}, answered {counts.answered}, errors {counts.errors}, reconnects {counts.reconnects}")
    say(
        f"end-to-end latency ms: p50 {stats.percentile(50):.2f}, p90 {stats.percentile(90):.2f}, "
        f"p99 {stats.percentile(99):.2f}; {progress.rate:.1f} frames/s"
    )
    check_failures(args, stats.errors, stats.sent, "frames")

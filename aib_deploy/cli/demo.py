"""`aib demo`: the bundled model exported, served and streamed end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..demo.run import DemoOptions
from .options import thread_count
from .paths import OutputPath


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="export the bundled demo model, run it on a synthetic video, score it",
        description="Exports the bundled WRN-AIB-qt glyph model, draws a synthetic video with ground truth, "
        "serves it on loopback, streams every frame through the gRPC client and writes DIR/summary.json, "
        "the annotated video and per-frame JSON lines.",
    )
    parser.add_argument(
        "--output",
        type=OutputPath("folder"),
        default=str(DemoOptions.output),
        help=f"folder for everything it writes (default {DemoOptions.output})",
    )
    parser.add_argument("--threads", type=thread_count, help="ONNX Runtime intra-op threads")
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> None:
    from ..demo.run import run_demo

    output = Path(args.output)
    existed = output.exists()
    try:
        run_demo(DemoOptions(output=output, threads=args.threads))
    except BaseException:  # interrupted or failed before writing anything: no empty folder left behind
        if not existed and output.is_dir() and not any(output.iterdir()):
            output.rmdir()
        raise

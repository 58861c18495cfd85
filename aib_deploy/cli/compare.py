"""`aib compare A B`: two models on the same frames, with a gate, before shipping the second one."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import AibError
from ..export.compare_models import CompareOptions
from .export import add_gate_option
from .options import add_runner_options, runner_options


def add_compare_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="run two models on the same frames and report their agreement (top-1, anchor index)",
        description="Any two files of one model (ONNX float32/fp16/INT8, a checkpoint, an engine) on the same "
        "frames: top-1 agreement, anchor-index agreement (exact and within one step), the largest logit and "
        "attention differences. Exit 1 below --fail-under.",
    )
    defaults = CompareOptions()
    parser.add_argument("reference", help="the model to compare against (e.g. the float32 .onnx or the checkpoint)")
    parser.add_argument("candidate", help="the model to check (e.g. the INT8 or fp16 file, or an engine)")
    parser.add_argument("--input", default=defaults.frames,
                        help="frames: 'synthetic' (default), an image, a folder of images or a video")  # fmt: skip
    parser.add_argument("--count", type=int, default=defaults.count, help=f"frames to compare (default {defaults.count})")
    add_gate_option(parser)
    add_runner_options(parser)
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> None:
    from ..export.agreement import Gate
    from ..export.compare_models import compare_models

    options = CompareOptions(frames=args.input, count=args.count, fail_under=Gate.parse(args.fail_under),
                             runner=runner_options(args))  # fmt: skip
    agreement, failures = compare_models(Path(args.reference), Path(args.candidate), options)
    print(f"{Path(args.candidate).name} against {Path(args.reference).name}: {agreement.describe()}")
    if failures:
        raise AibError(f"{args.candidate}: below the gate (--fail-under {options.fail_under.describe()}): {'; '.join(failures)}")

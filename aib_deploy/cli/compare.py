"""`aib compare`: two models on the same frames, with a gate, before shipping the second one.

A and B can be any files the runtime opens (float32, fp16 or INT8 ONNX, a checkpoint, an engine);
the frames go through A's preprocessing, so both must share its input size, mean and std. The
comparison itself is `aib_deploy.runtime.compare.compare_models`, as Polygraphy's
`run --onnxrt --trt` compares backends, for the outputs that matter here: the class and the anchors.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..errors import AibError
from ..export.calibration import SYNTHETIC
from .export import add_gate_option
from .options import add_json_option, add_runner_options, human_lines, positive_int, print_json, runner_options
from .paths import FRAMES_SOURCE, ModelPath

DEFAULT_COUNT = 256


def add_compare_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="run two models on the same frames and report their agreement (top-1, anchor index)",
        description="Any two files of one model (ONNX float32/fp16/INT8, a checkpoint, an engine) on the same "
        "frames: top-1 agreement, anchor-index agreement (exact and within one step), the largest logit and "
        "attention differences. Exit 1 below --fail-under.",
    )
    parser.add_argument(
        "reference", type=ModelPath(), help="the model to compare against (e.g. the float32 .onnx or the checkpoint)"
    )
    parser.add_argument("candidate", type=ModelPath(), help="the model to check (e.g. the INT8 or fp16 file, or an engine)")
    parser.add_argument(
        "--input",
        type=FRAMES_SOURCE,
        default=SYNTHETIC,
        help="frames: 'synthetic' (default), an image, a folder of images or a video",
    )
    parser.add_argument("--count", type=positive_int, default=DEFAULT_COUNT, help=f"frames to compare (default {DEFAULT_COUNT})")
    add_gate_option(parser)
    add_runner_options(parser)
    add_json_option(parser)
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> None:
    from ..export.calibration import check_frames
    from ..runtime.compare import CompareOptions, Gate, compare_models

    options = CompareOptions(fail_under=Gate.parse(args.fail_under), runner=runner_options(args))
    reference, candidate = Path(args.reference), Path(args.candidate)
    with human_lines(args):
        agreement, failures = compare_models(reference, candidate, check_frames(args.input, args.count), options)
        print(f"{candidate.name} against {reference.name}: {agreement.describe()}")
    document = {"reference": str(reference), "candidate": str(candidate), "input": args.input}
    document.update(agreement=asdict(agreement), gate=options.fail_under.describe(), gate_failures=failures)
    print_json(args, "compare", document)
    if failures:
        raise AibError(f"{args.candidate}: below the gate (--fail-under {options.fail_under.describe()}): {'; '.join(failures)}")

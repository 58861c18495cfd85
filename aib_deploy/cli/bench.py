"""`aib bench`: models, or the paper's architectures (--suite), timed side by side."""

from __future__ import annotations

import argparse

from ..bench.suite import SUITE_MODELS
from ..errors import OptionError
from .options import add_runner_options, add_timing_options, bench_options, runner_options
from .paths import ModelPath, OutputPath


def add_bench_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="time backends side by side on the same batches",
        description="Median, p90, p95 and p99 latency and throughput per backend and batch size, measured in one "
        "run, with ratios. Give models (.onnx on ONNX Runtime, checkpoints on PyTorch, .engine on TensorRT), or "
        "--suite to build the paper's architectures with fresh weights and run every backend present here.",
    )
    parser.add_argument("models", nargs="*", type=ModelPath(), help="models to time on the same batches")
    parser.add_argument(
        "--suite",
        nargs="+",
        choices=sorted(SUITE_MODELS),
        metavar="MODEL",
        help=f"architectures to build and time on every backend present ({', '.join(SUITE_MODELS)})",
    )
    add_timing_options(parser)
    add_runner_options(parser, threads=False)
    parser.add_argument("--output", type=OutputPath("folder"), help="write bench.json, bench.csv and bench.png to this folder")
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> None:
    from ..bench.measure import bench_runners
    from ..bench.report import report
    from ..bench.suite import run_suite
    from ..runtime import open_runner

    if args.suite and args.models:
        raise OptionError("bench: give models or --suite, not both (--suite builds its own models)")
    if not args.suite and not args.models:
        raise OptionError("bench: give one or more models (.onnx, checkpoint, .engine), or --suite")
    options = bench_options(args, suite=tuple(args.suite or ()))
    if options.suite:
        rows, skipped = run_suite(options)
        report(rows, args.output, skipped)
        return
    runners = [open_runner(model, runner_options(args)) for model in args.models]
    report(bench_runners(runners, options), args.output)

"""The `aib` command. User errors end as one line on stderr and exit code 1."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import AibError


def _add_export_onnx(commands: argparse._SubParsersAction) -> None:
    from .presets import DATASETS

    parser = commands.add_parser(
        "onnx",
        help="export a checkpoint's deterministic inference path to ONNX and check parity",
        description="Trace the deterministic path (attention mean snapped to the nearest anchor, latent mean) "
        "into ONNX, run onnx.checker, and compare ONNX Runtime with PyTorch at two batch sizes.",
    )
    parser.add_argument("checkpoint", help="a checkpoint written by the paper's code (any of its three layouts)")
    parser.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    parser.add_argument("--dataset", choices=[*DATASETS, "custom"], help="label and class-count preset (default: from the checkpoint)")
    parser.add_argument("--weights", default="net", choices=["net", "net_ema"], help="which weights of a model_states checkpoint")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18, the minimum)")
    parser.add_argument("--max-batch", type=int, default=64, help="largest batch the model card advertises (default 64)")
    parser.add_argument("--labels", help="text file with one class label per line")
    parser.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"), help="override the normalization mean")
    parser.add_argument("--std", type=float, nargs=3, metavar=("R", "G", "B"), help="override the normalization std")
    parser.set_defaults(handler=_run_export_onnx)


def _run_export_onnx(args: argparse.Namespace) -> None:
    from .export.commands import export_onnx_command

    export_onnx_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aib", description="Export, serve and benchmark AIB attention classifiers.")
    parser.add_argument("--version", action="version", version=f"aib-deploy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser("export", help="turn checkpoints into deployable artefacts")
    _add_export_onnx(export.add_subparsers(dest="format", required=True, metavar="FORMAT"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except AibError as error:
        print(f"aib: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aib: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

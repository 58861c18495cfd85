"""The `aib` command: one parser module per command family. User errors end as one
line on stderr and exit code 1.

Handlers import what is heavy (torch, onnx, grpc) only when their command runs,
so `aib --help` and the serving path never import torch.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import AibError
from .bench import add_bench_command
from .demo import add_demo_command
from .export import add_export_commands
from .predict import add_predict_command
from .serve import add_serve_command
from .stream import add_stream_command

# Optional heavy modules and the extra that installs each.
EXTRAS = {"torch": "export", "onnx": "export", "onnxscript": "export"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aib", description="Export, serve and benchmark AIB attention classifiers.")
    parser.add_argument("--version", action="version", version=f"aib-deploy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_export_commands, add_predict_command, add_bench_command, add_demo_command, add_serve_command,
                add_stream_command):  # fmt: skip
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except AibError as error:
        print(f"aib: error: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:
        if error.name not in EXTRAS:
            raise
        print(
            f"aib: error: this command needs {error.name}, which is not installed here; "
            f"install it with: pip install 'aib-deploy[{EXTRAS[error.name]}]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("aib: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

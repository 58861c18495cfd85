"""`aib check MODEL`: is an ONNX file ready for TensorRT's parser, judged without TensorRT or a GPU."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..errors import AibError
from .options import add_json_option, human_lines, print_json
from .paths import ONNX_KINDS, ModelPath


def add_check_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check",
        help="check, without TensorRT or a GPU, that TensorRT's ONNX parser can take a model",
        description="Every operator in TensorRT's ONNX support table (kept as data, with its source), the opset "
        "in range, shape-like inputs constant, Q/DQ zero points 0, outputs declared, the legality rules of a "
        "strongly typed network (topological order and ONNX's full check, one float type per elementwise op, "
        "a float32 anchor snap, weight Q/DQ into linear ops only, no Q/DQ into BatchNormalization, INT8 "
        "quantized types, positive float32 scales), and the batch dimension dynamic (declared, and run at two "
        "batch sizes on ONNX Runtime). One line per check; exit 1 names what fails.",
    )
    parser.add_argument("model", type=ModelPath(accepts=ONNX_KINDS), help="an .onnx file (float32, fp16 or INT8)")
    add_json_option(parser)
    parser.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> None:
    from ..export.tensorrt_check import check_tensorrt_readiness, load_support_table

    path = Path(args.model)
    table = load_support_table()
    findings = check_tensorrt_readiness(path, table)
    failed = [finding for finding in findings if not finding.ok]
    with human_lines(args):
        for finding in findings:
            print(f"{'ok  ' if finding.ok else 'FAIL'} {finding.check}: {finding.detail}")
        print(f"operator table: {table['source']}")
        if not failed:
            print(f"{path}: ready for TensorRT's ONNX parser (checked without TensorRT; build an engine to be sure)")
    document = {"file": str(path), "ready": not failed, "findings": [asdict(finding) for finding in findings]}
    print_json(args, "check", {**document, "operator_table": table["source"]})
    if failed:
        raise AibError(f"{path}: not ready for TensorRT: " + "; ".join(f"{f.check}: {f.detail}" for f in failed))

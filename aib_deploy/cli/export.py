"""`aib export onnx|int8|fp16|engine|triton` and `aib check`: parsers, and handlers that build
the typed options, call the library and print what it did."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..card.model_card import WEIGHT_CHOICES
from ..card.presets import DATASETS, read_labels
from ..export.fp16 import Fp16Options
from ..export.int8 import CALIBRATION_METHODS, FLOAT_REGIONS, Int8Options
from ..export.onnx_options import OnnxExportOptions
from ..runtime.compare import Gate
from .check import add_check_command
from .export_steps import (
    add_float32_source,
    add_gate_option,
    check_gate,
    check_parity,
    export_with_parity,
    onnx_source,
    output_path,
    written_file,
)
from .options import add_json_option, finite_float, human_lines, positive_int, print_json, thread_count
from .paths import FRAMES_SOURCE, InputPath, ModelPath, OutputPath
from .targets import add_engine_command, add_triton_command


def add_export_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="turn checkpoints into deployable artefacts")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    _add_onnx(formats)
    _add_int8(formats)
    _add_fp16(formats)
    add_engine_command(formats)
    add_triton_command(formats)
    add_check_command(commands)


def _add_onnx(formats: argparse._SubParsersAction) -> None:
    defaults = OnnxExportOptions()
    parser = formats.add_parser(
        "onnx",
        help="export a checkpoint's deterministic inference path to ONNX and check parity",
        description="Trace the deterministic path (attention mean snapped to the nearest anchor, latent mean) "
        "into ONNX, run onnx.checker, and compare ONNX Runtime with PyTorch at two batch sizes.",
    )
    parser.add_argument(
        "checkpoint",
        type=ModelPath(accepts=("checkpoint",)),
        help="a checkpoint written by the paper's code (any of its three layouts)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=OutputPath(suffixes=(".onnx",)),
        help="the .onnx file to write (default: beside the checkpoint, CHECKPOINT.onnx)",
    )
    parser.add_argument(
        "--dataset", choices=[*DATASETS, "custom"], help="label and class-count preset (default: from the checkpoint)"
    )
    parser.add_argument(
        "--weights", default=defaults.weights, choices=WEIGHT_CHOICES, help="which weights of a model_states checkpoint"
    )
    parser.add_argument(
        "--opset", type=positive_int, default=defaults.opset, help=f"ONNX opset (default {defaults.opset}, the minimum)"
    )
    parser.add_argument(
        "--max-batch",
        type=positive_int,
        default=defaults.max_batch,
        help=f"largest batch the model card advertises (default {defaults.max_batch})",
    )
    parser.add_argument("--labels", type=InputPath(), help="text file with one class label per line")
    parser.add_argument("--mean", type=finite_float, nargs=3, metavar=("R", "G", "B"), help="override the normalization mean")
    parser.add_argument("--std", type=finite_float, nargs=3, metavar=("R", "G", "B"), help="override the normalization std")
    add_json_option(parser)
    parser.set_defaults(handler=export_onnx_command)


def export_onnx_command(args: argparse.Namespace) -> None:

    options = OnnxExportOptions(
        weights=args.weights,
        dataset=args.dataset,
        labels=read_labels(args.labels),
        mean=tuple(args.mean) if args.mean else None,
        std=tuple(args.std) if args.std else None,
        opset=args.opset,
        max_batch=args.max_batch,
    )
    with human_lines(args):
        document = export_with_parity(Path(args.checkpoint), output_path(args, args.checkpoint, ".onnx"), options)
    print_json(args, "export onnx", document)
    check_parity(document)


def _add_int8(formats: argparse._SubParsersAction) -> None:
    parser = formats.add_parser(
        "int8",
        help="quantize an exported model to INT8 (Q/DQ) for ONNX Runtime CPUs and TensorRT",
        description="Explicit quantization with ONNX Runtime's tools: symmetric int8 activations, per-channel "
        "int8 weights, the anchor snap and its table in float32. Reports top-1 and attention-index agreement "
        "with the float model on held-out frames, and writes them into the model card.",
    )
    defaults = Int8Options()
    add_float32_source(parser)
    parser.add_argument(
        "--calibration",
        required=True,
        type=FRAMES_SOURCE,
        help="'synthetic' (the demo's glyph images), an image, a folder of images or a video",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=OutputPath(suffixes=(".onnx",)),
        help="the INT8 .onnx file to write (default: MODEL.int8.onnx beside MODEL)",
    )
    parser.add_argument(
        "--count", type=positive_int, default=defaults.count, help=f"calibration frames (default {defaults.count})"
    )
    parser.add_argument(
        "--held-out",
        type=positive_int,
        default=defaults.held_out,
        help=f"frames for the agreement check (default {defaults.held_out})",
    )
    parser.add_argument(
        "--method",
        default=defaults.method,
        choices=CALIBRATION_METHODS,
        help=f"how activation ranges are calibrated (default {defaults.method})",
    )
    parser.add_argument(
        "--float",
        dest="float_region",
        default=defaults.float_region,
        choices=FLOAT_REGIONS,
        help="what stays float32: `auto` (default) puts as much of the attention path in int8 as "
        "keeps --min-index-agreement; `attention-path` keeps every node the attention map depends "
        "on (indices match the float model); `head` only the attention head and snap (fastest)",
    )
    parser.add_argument(
        "--min-index-agreement",
        type=finite_float,
        default=defaults.min_index_agreement,
        help="--float auto: exact anchor-index agreement to keep on the calibration frames "
        f"(default {defaults.min_index_agreement})",
    )
    parser.add_argument("--threads", type=thread_count, help="intra-op threads for calibration and the check")
    add_gate_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=export_int8_command)


def export_int8_command(args: argparse.Namespace) -> None:
    from ..export.int8 import export_int8

    options = Int8Options(
        calibration=args.calibration,
        count=args.count,
        held_out=args.held_out,
        method=args.method,
        float_region=args.float_region,
        min_index_agreement=args.min_index_agreement,
        threads=args.threads,
        fail_under=Gate.parse(args.fail_under),
    )
    output = output_path(args, args.model, ".int8.onnx")
    with human_lines(args):
        source = onnx_source(args.model)
        print(
            f"quantizing {source.name}: calibration on {options.calibration} ({options.method}, per-channel "
            f"weights), float region: {options.float_region}",
            flush=True,
        )
        result = export_int8(source, output, options)
        if (result.calibration_frames, result.held_out_frames) != (options.count, options.held_out):
            print(
                f"aib: warning: --calibration {options.calibration}: {result.calibration_frames + result.held_out_frames} "
                f"frames, fewer than --count {options.count} + --held-out {options.held_out}; used "
                f"{result.calibration_frames} for calibration and {result.held_out_frames} held out",
                file=sys.stderr,
            )
        print(
            f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB; {result.calibration_frames} calibration frames, "
            f"{result.float_nodes} nodes kept float32; {result.choice.describe()})"
        )
        print(result.agreement.describe())
        if result.latency is not None:
            print(result.latency.describe())
    document = written_file(output, "int8", result.agreement, options.fail_under, result.gate_failures)
    document.update(source=str(source), calibration_frames=result.calibration_frames, float_nodes=result.float_nodes)
    print_json(args, "export int8", document)
    check_gate(output, options.fail_under, result.gate_failures)


def _add_fp16(formats: argparse._SubParsersAction) -> None:
    parser = formats.add_parser(
        "fp16",
        help="convert an exported model to float16 with the anchor snap in float32",
        description="ONNX Runtime's float16 converter with a node block list, then sorted, typed again and rid of "
        "cast round trips: float16 backbone and attention head, one Cast into float32 at the attention logits, "
        "and float32 from there on (sigmoid, distances to the anchors, ArgMin, the anchor table, Gather), so "
        "every attention value is a float32 anchor; inputs and outputs keep the contract's types. Reports "
        "top-1 and attention-index agreement with the float32 file on held-out frames and writes them into "
        "the model card.",
    )
    defaults = Fp16Options()
    add_float32_source(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=OutputPath(suffixes=(".onnx",)),
        help="the fp16 .onnx file to write (default: MODEL.fp16.onnx beside MODEL)",
    )
    parser.add_argument(
        "--frames",
        type=FRAMES_SOURCE,
        default=defaults.frames,
        help="frames for the agreement check: 'synthetic' (default), an image, a folder or a video",
    )
    parser.add_argument(
        "--held-out", type=positive_int, default=defaults.held_out, help=f"how many frames to check (default {defaults.held_out})"
    )
    parser.add_argument("--threads", type=thread_count, help="intra-op threads for the check")
    add_gate_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=export_fp16_command)


def export_fp16_command(args: argparse.Namespace) -> None:
    from ..export.fp16 import export_fp16

    options = Fp16Options(
        frames=args.frames, held_out=args.held_out, threads=args.threads, fail_under=Gate.parse(args.fail_under)
    )
    output = output_path(args, args.model, ".fp16.onnx")
    with human_lines(args):
        source = onnx_source(args.model)
        result = export_fp16(source, output, options)
        if result.held_out_frames < options.held_out:
            print(
                f"aib: warning: --frames {options.frames}: {result.held_out_frames} frames, fewer than --held-out "
                f"{options.held_out}",
                file=sys.stderr,
            )
        print(
            f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB; {result.float32_nodes} nodes kept float32: the "
            "attention sigmoid and the anchor snap)"
        )
        print(result.agreement.describe())
    document = written_file(output, "fp16", result.agreement, options.fail_under, result.gate_failures)
    document.update(source=str(source), float32_nodes=result.float32_nodes)
    print_json(args, "export fp16", document)
    check_gate(output, options.fail_under, result.gate_failures)

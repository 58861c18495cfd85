"""`aib export onnx|int8|fp16|engine|triton` and `aib check`: parsers, and handlers that build
the typed options, call the library and print what it did."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..backends.tensorrt.options import OPT_BATCH, EngineOptions
from ..card.model_card import WEIGHT_CHOICES
from ..card.presets import DATASETS, read_labels
from ..contract import ENGINE_SUFFIXES
from ..errors import AibError
from ..export.fp16 import Fp16Options
from ..export.int8 import CALIBRATION_METHODS, FLOAT_REGIONS, Int8Options
from ..export.onnx_options import OnnxExportOptions
from ..export.triton import BACKENDS, KINDS, TritonOptions
from ..runtime.compare import Gate
from ..runtime.loader import CHECKPOINT_SUFFIXES
from .options import finite_float, non_negative_int, optional_path, positive_int
from .paths import FRAMES_SOURCE, ONNX_KINDS, InputPath, ModelPath, OutputPath, plain_value


def output_path(args: argparse.Namespace, source: str, suffix: str) -> Path:
    """-o (its type checked it while parsing), else SOURCE's stem plus `suffix` beside it (model.onnx ->
    model.int8.onnx), as Ultralytics does."""
    if args.output:
        return Path(args.output)
    source = Path(source)
    return source.with_name(source.name.removesuffix(source.suffix) + suffix)


def add_export_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="turn checkpoints into deployable artefacts")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    _add_onnx(formats)
    _add_int8(formats)
    _add_fp16(formats)
    _add_engine(formats)
    _add_triton(formats)
    _add_check(commands)


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
    export_with_parity(Path(args.checkpoint), output_path(args, args.checkpoint, ".onnx"), options)


def export_with_parity(checkpoint: Path, output: Path, options: OnnxExportOptions) -> None:
    """`aib export onnx`'s work: export, the full ONNX check, parity with PyTorch; one line when they disagree."""
    from ..export.onnx_export import check_onnx, export_checkpoint, report_parity

    started = time.perf_counter()
    exported = export_checkpoint(checkpoint, output, options)
    arch, loaded = exported.loaded.arch, exported.loaded.checkpoint
    print(
        f"checkpoint {checkpoint}: {arch.name}, {arch.num_classes} classes, K={arch.K}, layout "
        f"{loaded.layout}, weights {loaded.weights}, dataset {exported.card.dataset}"
    )
    check_onnx(output)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opset {options.opset}); onnx.checker full check passed")
    failures = report_parity(output, exported.loaded.model, exported.card)
    print(f"export took {time.perf_counter() - started:.1f} s", flush=True)
    if failures:
        raise AibError(
            f"{output}: ONNX Runtime disagrees with PyTorch at batch sizes {failures} (see above); "
            "the file is kept for inspection but should not be deployed"
        )


def onnx_source(model: str) -> Path:
    """MODEL, or for a checkpoint the float32 ONNX file exported from it first, beside it (CHECKPOINT.onnx),
    with `aib export onnx`'s defaults and parity check: one step from checkpoint to fp16, INT8, engine or
    Triton, as `yolo export format=engine` takes a .pt. A CHECKPOINT.onnx already there is used when its
    card names this checkpoint's sha256, and otherwise left alone with one line."""
    from ..card.model_card import card_from_metadata
    from ..export.sources import load_onnx
    from ..files import file_sha256

    path = Path(model)
    if path.suffix not in CHECKPOINT_SUFFIXES:
        return path
    onnx_path = path.with_name(path.name.removesuffix(path.suffix) + ".onnx")
    if onnx_path.exists():
        proto = load_onnx(onnx_path, "aib export", external_data=False)
        card = card_from_metadata({prop.key: prop.value for prop in proto.metadata_props}, source=f"model {onnx_path}")
        if card.checkpoint_sha256 != file_sha256(path) or card.precision != "fp32":
            raise AibError(
                f"{onnx_path}: already there and not the float32 export of {path.name}; remove it, or export "
                f"with `aib export onnx {path} -o OTHER.onnx` and give that file"
            )
        print(f"using {onnx_path}, exported from {path.name} before", flush=True)
        return onnx_path
    export_with_parity(path, onnx_path, OnnxExportOptions())
    return onnx_path


def _add_int8(formats: argparse._SubParsersAction) -> None:
    parser = formats.add_parser(
        "int8",
        help="quantize an exported model to INT8 (Q/DQ) for ONNX Runtime CPUs and TensorRT",
        description="Explicit quantization with ONNX Runtime's tools: symmetric int8 activations, per-channel "
        "int8 weights, the anchor snap and its table in float32. Reports top-1 and attention-index agreement "
        "with the float model on held-out frames, and writes them into the model card.",
    )
    defaults = Int8Options()
    parser.add_argument(
        "model",
        type=ModelPath(accepts=("checkpoint", "float32")),
        help="a float32 .onnx file written by `aib export onnx`, or a checkpoint (exported to CHECKPOINT.onnx first)",
    )
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
    parser.add_argument("--threads", type=positive_int, help="intra-op threads for calibration and the check")
    add_gate_option(parser)
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
    source = onnx_source(args.model)
    print(
        f"quantizing {source.name}: calibration on {options.calibration} ({options.method}, per-channel weights), "
        f"float region: {options.float_region}",
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
    print(result.latency.describe())
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
    parser.add_argument(
        "model",
        type=ModelPath(accepts=("checkpoint", "float32")),
        help="a float32 .onnx file written by `aib export onnx`, or a checkpoint (exported to CHECKPOINT.onnx first)",
    )
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
    parser.add_argument("--threads", type=positive_int, help="intra-op threads for the check")
    add_gate_option(parser)
    parser.set_defaults(handler=export_fp16_command)


def export_fp16_command(args: argparse.Namespace) -> None:
    from ..export.fp16 import export_fp16

    options = Fp16Options(
        frames=args.frames, held_out=args.held_out, threads=args.threads, fail_under=Gate.parse(args.fail_under)
    )
    output = output_path(args, args.model, ".fp16.onnx")
    result = export_fp16(onnx_source(args.model), output, options)
    if result.held_out_frames < options.held_out:
        print(
            f"aib: warning: --frames {options.frames}: {result.held_out_frames} frames, fewer than --held-out {options.held_out}",
            file=sys.stderr,
        )
    print(
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB; {result.float32_nodes} nodes kept float32: the "
        "attention sigmoid and the anchor snap)"
    )
    print(result.agreement.describe())
    check_gate(output, options.fail_under, result.gate_failures)


def add_gate_option(parser: argparse.ArgumentParser) -> None:
    default = Gate().describe()
    parser.add_argument(
        "--fail-under",
        type=plain_value,
        default=default,
        help=f"exit 1 when held-out agreement falls below these shares (default {default}); the file "
        "and its report are written either way",
    )


def check_gate(output: Path, gate: Gate, failures: list[str]) -> None:
    if failures:
        raise AibError(
            f"{output}: below the gate (--fail-under {gate.describe()}): {'; '.join(failures)}; the file "
            "and its report in the model card were written"
        )


def _add_engine(formats: argparse._SubParsersAction) -> None:
    parser = formats.add_parser(
        "engine",
        help="build a strongly typed TensorRT engine (needs TensorRT and an NVIDIA GPU; not executed in this project's CI)",
        description="Strongly typed build (TensorRT 10 and 11): the ONNX file's types decide the precision, so a "
        "float32 file gives an fp32 engine, an `aib export fp16` file an fp16 engine, an `aib export int8` file an "
        "int8 engine. One optimization profile over the batch, an optional timing cache. Writes ENGINE and "
        "ENGINE.json (TensorRT version, GPU, precision, profile, ONNX sha256, model card).",
    )
    parser.add_argument(
        "model",
        type=ModelPath(accepts=("checkpoint", *ONNX_KINDS)),
        help="an .onnx file written by `aib export onnx`, `aib export fp16` or `aib export int8`, or a checkpoint "
        "(exported to CHECKPOINT.onnx first)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=OutputPath(suffixes=ENGINE_SUFFIXES),
        help="the engine file to write, .engine or .plan (default: MODEL.engine beside MODEL)",
    )
    for flag, command in (("--fp16", "fp16"), ("--int8", "int8 --calibration ...")):
        parser.add_argument(
            flag, action="store_true", help=f"not a build flag: build from `aib export {command.split()[0]}`'s file"
        )
    profile = parser.add_argument_group("batch profile")
    profile.add_argument(
        "--min-batch", type=positive_int, default=EngineOptions.min_batch, help=f"(default {EngineOptions.min_batch})"
    )
    profile.add_argument(
        "--opt-batch", type=positive_int, help=f"the batch kernels are tuned for (default {OPT_BATCH}, within the profile)"
    )
    profile.add_argument("--max-batch", type=positive_int, help="(default: the model card's largest batch)")
    parser.add_argument(
        "--workspace",
        type=positive_int,
        default=EngineOptions.workspace_mib,
        help=f"builder workspace in MiB (default {EngineOptions.workspace_mib})",
    )
    parser.add_argument("--timing-cache", type=OutputPath(), help="read and update this timing cache file (faster rebuilds)")
    parser.add_argument(
        "--version-compatible",
        action="store_true",
        help="runs on later TensorRT versions, 11.x included, and on the lean runtime (can be slower)",
    )
    parser.add_argument(
        "--hardware-compatible", action="store_true", help="runs on any Ampere or newer GPU, for mixed fleets (can be slower)"
    )
    parser.set_defaults(handler=export_engine_command)


def export_engine_command(args: argparse.Namespace) -> None:
    from ..backends.tensorrt.builder import build_engine
    from ..export.sources import load_onnx

    for flag, command in ((args.fp16, "fp16"), (args.int8, "int8")):
        if flag:
            raise AibError(
                f"--{command}: engines are strongly typed, so the ONNX file's types decide the precision; "
                f"make the file with `aib export {command} {args.model} -o MODEL.{command}.onnx"
                f"{' --calibration synthetic' if command == 'int8' else ''}` and build that"
            )
    options = EngineOptions(
        min_batch=args.min_batch,
        opt_batch=args.opt_batch,
        max_batch=args.max_batch,
        workspace_mib=args.workspace,
        timing_cache=optional_path(args.timing_cache),
        version_compatible=args.version_compatible,
        hardware_compatible=args.hardware_compatible,
    )
    output = output_path(args, args.model, ".engine")
    source = onnx_source(args.model)
    load_onnx(source, "aib export engine", external_data=False)  # one line for what is not ONNX, before TensorRT
    started = time.perf_counter()
    sidecar = build_engine(source, output, options)
    profile = sidecar["profile"]
    print(
        f"wrote {output} ({sidecar['precision']}, strongly typed, batch {profile['min']}-{profile['max']}, "
        f"TensorRT {sidecar['tensorrt_version']}, {sidecar['gpu']}) in {time.perf_counter() - started:.0f} s; "
        "sidecar beside it"
    )


def _add_triton(formats: argparse._SubParsersAction) -> None:
    parser = formats.add_parser(
        "triton",
        help="write Triton Inference Server model repository entries for an exported model",
        description="REPOSITORY/NAME/config.pbtxt (inputs and outputs without the batch dimension, max_batch_size, "
        "dynamic batching, instance group, the model card as a parameter), labels.txt and VERSION/ with the model: "
        "model.onnx for Triton's ONNX Runtime backend, model.plan for its TensorRT backend, or model.py plus "
        "model.onnx for its Python backend (aib-deploy's runtime; takes `images` or encoded `frames`). --frames adds "
        "an ensemble, NAME_frames: Python-backend decoding and preprocessing (NAME_preprocess), then the model.",
    )
    parser.add_argument(
        "model",
        type=ModelPath(accepts=("checkpoint", *ONNX_KINDS, "engine")),
        help="an .onnx file written by `aib export onnx`, `fp16` or `int8`, an engine, or a checkpoint "
        "(exported to CHECKPOINT.onnx first)",
    )
    parser.add_argument(
        "--repository", required=True, type=OutputPath("folder"), help="the model repository folder (created if missing)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Triton backend (default: onnxruntime for .onnx, tensorrt for .engine/.plan); python runs "
        "aib-deploy's Predictor on ONNX Runtime inside Triton",
    )
    parser.add_argument(
        "--frames",
        action="store_true",
        help="onnxruntime/tensorrt: also write the ensemble NAME_frames that takes encoded JPEG/PNG "
        "`frames` (the python backend takes them itself)",
    )
    parser.add_argument(
        "--name", type=plain_value, help="model name in the repository (default: aib_DATASET_ARCHITECTURE_PRECISION)"
    )
    defaults = TritonOptions()
    parser.add_argument(
        "--version", type=positive_int, default=defaults.version, help=f"version folder (default {defaults.version})"
    )
    parser.add_argument("--max-batch", type=positive_int, help="max_batch_size (default: the model card's)")
    parser.add_argument(
        "--max-delay-us",
        type=non_negative_int,
        default=defaults.max_delay_us,
        help=f"dynamic batching: longest wait to fill a batch (default {defaults.max_delay_us} us, as `aib serve`)",
    )
    parser.add_argument("--kind", default=defaults.kind, choices=KINDS, help=f"instance group kind (default {defaults.kind})")
    parser.add_argument(
        "--instances",
        type=positive_int,
        default=defaults.instances,
        help=f"model instances per device (default {defaults.instances})",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=defaults.max_pixels,
        help=f"frames: largest encoded image in pixels, checked in its header before decoding "
        f"(default {defaults.max_pixels}, as `aib serve`)",
    )
    parser.add_argument(
        "--python-path",
        type=plain_value,
        action="append",
        default=[],
        metavar="FOLDER",
        help="Python-backend models: a folder model.py puts on sys.path before this environment's "
        "site-packages (repeatable), e.g. one with numpy<2 for the Python backend of Triton 2.51 "
        "(nvidia-pytriton 0.7)",
    )
    parser.set_defaults(handler=export_triton_command)


def export_triton_command(args: argparse.Namespace) -> None:
    from ..export.triton import write_repository

    options = TritonOptions(
        name=args.name,
        version=args.version,
        max_batch=args.max_batch,
        max_delay_us=args.max_delay_us,
        kind=args.kind,
        instances=args.instances,
        backend=args.backend,
        frames=args.frames,
        max_pixels=args.max_pixels,
        python_path=tuple(args.python_path),
    )
    folders = write_repository(onnx_source(args.model), Path(args.repository), options)
    for folder in folders:
        print(f"wrote {folder}/ (config.pbtxt, {options.version}/)")
    print(f"serve it with: tritonserver --model-repository {Path(args.repository).resolve()}")


def _add_check(commands: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> None:
    from ..export.tensorrt_check import check_tensorrt_readiness, load_support_table

    path = Path(args.model)
    table = load_support_table()
    findings = check_tensorrt_readiness(path, table)
    for finding in findings:
        print(f"{'ok  ' if finding.ok else 'FAIL'} {finding.check}: {finding.detail}")
    print(f"operator table: {table['source']}")
    failed = [finding for finding in findings if not finding.ok]
    if failed:
        raise AibError(f"{path}: not ready for TensorRT: " + "; ".join(f"{f.check}: {f.detail}" for f in failed))
    print(f"{path}: ready for TensorRT's ONNX parser (checked without TensorRT; build an engine to be sure)")

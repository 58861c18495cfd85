"""`aib export engine` and `aib export triton`: the files a deployment takes (a TensorRT engine, a Triton
model repository), from an exported ONNX file or, in one step, a checkpoint."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..backends.tensorrt.options import OPT_BATCH, EngineOptions
from ..contract import ENGINE_SUFFIXES
from ..errors import AibError
from ..export.triton import BACKENDS, KINDS, TritonOptions
from .export_steps import onnx_source, output_path
from .options import add_json_option, human_lines, non_negative_int, optional_path, positive_int, print_json, thread_count
from .paths import ONNX_KINDS, ModelPath, OutputPath, plain_value


def add_engine_command(formats: argparse._SubParsersAction) -> None:
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
    add_json_option(parser)
    parser.set_defaults(handler=export_engine_command)


def export_engine_command(args: argparse.Namespace) -> None:
    from ..backends.tensorrt.builder import build_engine
    from ..backends.tensorrt.cuda import import_tensorrt
    from ..export.sources import load_onnx
    from ..models.checkpoint import read_checkpoint
    from ..runtime.loader import CHECKPOINT_SUFFIXES

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
    if Path(args.model).suffix in CHECKPOINT_SUFFIXES:  # before converting it: no CHECKPOINT.onnx left for nothing
        try:
            import_tensorrt()
        except AibError:
            read_checkpoint(args.model)  # a checkpoint that cannot be read is named first
            raise
    with human_lines(args):
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
    print_json(args, "export engine", {"output": str(output), "bytes": output.stat().st_size, "sidecar": sidecar})


def add_triton_command(formats: argparse._SubParsersAction) -> None:
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
        type=thread_count,
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
    add_json_option(parser)
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
    with human_lines(args):
        folders = write_repository(onnx_source(args.model), Path(args.repository), options)
        for folder in options.python_path:
            if not Path(folder).is_dir():  # may be where the server keeps it; model.py skips it where it is not
                print(f"aib: warning: --python-path {folder}: no such folder here; written as given", file=sys.stderr)
        for folder in folders:
            print(f"wrote {folder}/ (config.pbtxt, {options.version}/)")
        print(f"serve it with: tritonserver --model-repository {Path(args.repository).resolve()}")
    print_json(args, "export triton", {"output": str(args.repository), "models": [folder.name for folder in folders]})

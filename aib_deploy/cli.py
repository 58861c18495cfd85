"""The `aib` command. User errors end as one line on stderr and exit code 1."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import AibError

# Optional heavy modules and the extra that installs each.
EXTRAS = {"torch": "export", "onnx": "export", "onnxscript": "export"}


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
    parser.set_defaults(handler="aib_deploy.export.commands:export_onnx_command")




def _add_export_int8(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "int8",
        help="quantize an exported model to INT8 (Q/DQ) for ONNX Runtime CPUs and TensorRT",
        description="Explicit quantization with ONNX Runtime's tools: symmetric int8 activations, per-channel "
        "int8 weights, the anchor snap and its table in float32. Reports top-1 and attention-index agreement "
        "with the float model on held-out frames, and writes them into the model card.",
    )
    parser.add_argument("model", help="a float32 .onnx file written by `aib export onnx`")
    parser.add_argument("--calibration", required=True,
                        help="'synthetic' (the demo's glyph images), an image, a folder of images or a video")  # fmt: skip
    parser.add_argument("-o", "--output", required=True, help="the INT8 .onnx file to write")
    parser.add_argument("--count", type=int, default=256, help="calibration frames (default 256)")
    parser.add_argument("--held-out", type=int, default=512, help="frames for the agreement check (default 512)")
    parser.add_argument("--method", default="minmax", choices=["minmax", "entropy", "percentile"],
                        help="how activation ranges are calibrated (default minmax)")  # fmt: skip
    parser.add_argument("--float", dest="float_region", default="auto", choices=["auto", "attention-path", "head"],
                        help="what stays float32: `auto` (default) puts as much of the attention path in int8 as "
                        "keeps --min-index-agreement; `attention-path` keeps every node the attention map depends "
                        "on (indices match the float model); `head` only the attention head and snap (fastest)")  # fmt: skip
    parser.add_argument("--min-index-agreement", type=float, default=0.95,
                        help="--float auto: exact anchor-index agreement to keep on the calibration frames (default 0.95)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="intra-op threads for calibration and the check")
    parser.set_defaults(handler="aib_deploy.export.commands:export_int8_command")




def _add_export_engine(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "engine",
        help="build a TensorRT engine (needs TensorRT and an NVIDIA GPU; not executed in this project's CI)",
        description="TensorRT 10 builder: one optimization profile over the batch, FP16 and/or INT8 (a Q/DQ file "
        "from `aib export int8` turns INT8 on), the anchor snap pinned to float32, an optional timing cache. "
        "Writes ENGINE and ENGINE.json (TensorRT version, GPU, precision, profile, ONNX sha256, model card).",
    )
    parser.add_argument("model", help="an .onnx file written by `aib export onnx` or `aib export int8`")
    parser.add_argument("-o", "--output", required=True, help="the engine file to write (.engine or .plan)")
    parser.add_argument("--fp16", action="store_true", help="allow FP16 kernels")
    parser.add_argument("--int8", action="store_true", help="allow INT8 kernels (on by itself for Q/DQ files)")
    parser.add_argument("--min-batch", type=int, default=1)
    parser.add_argument("--opt-batch", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--workspace", type=int, default=1024, help="builder workspace in MiB (default 1024)")
    parser.add_argument("--timing-cache", help="read and update this timing cache file (faster rebuilds)")
    parser.add_argument("--version-compatible", action="store_true",
                        help="runs on later TensorRT versions of the same major version (can be slower)")  # fmt: skip
    parser.add_argument("--hardware-compatible", action="store_true",
                        help="runs on any Ampere or newer GPU, for mixed fleets (can be slower)")  # fmt: skip
    parser.set_defaults(handler="aib_deploy.export.commands:export_engine_command")

def _add_export_triton(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "triton",
        help="write a Triton Inference Server model repository entry for an exported model",
        description="REPOSITORY/NAME/config.pbtxt (inputs and outputs without the batch dimension, max_batch_size, "
        "dynamic batching, instance group, the model card as a parameter), labels.txt and VERSION/model.onnx.",
    )
    parser.add_argument("model", help="an .onnx file written by `aib export onnx` or `aib export int8`")
    parser.add_argument("--repository", required=True, help="the model repository folder (created if missing)")
    parser.add_argument("--name", help="model name in the repository (default: aib_DATASET_ARCHITECTURE)")
    parser.add_argument("--version", type=int, default=1, help="version folder (default 1)")
    parser.add_argument("--max-batch", type=int, help="max_batch_size (default: the model card's)")
    parser.add_argument("--max-delay-us", type=int, default=2000,
                        help="dynamic batching: longest wait to fill a batch, microseconds (default 2000)")  # fmt: skip
    parser.add_argument("--kind", default="gpu", choices=["gpu", "cpu"], help="instance group kind (default gpu)")
    parser.add_argument("--instances", type=int, default=1, help="model instances per device (default 1)")
    parser.set_defaults(handler="aib_deploy.export.commands:export_triton_command")

def _add_check(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check",
        help="check, without TensorRT or a GPU, that TensorRT's ONNX parser can take a model",
        description="Every operator in TensorRT's ONNX support table (kept as data, with its source), the opset "
        "in range, shape-like inputs constant, Q/DQ zero points 0, outputs declared, and the batch dimension "
        "dynamic (declared, and run at two batch sizes on ONNX Runtime). Exit 1 names what fails.",
    )
    parser.add_argument("model", help="an .onnx file (float32 or INT8)")
    parser.set_defaults(handler="aib_deploy.export.tensorrt_check:run_check")

def _add_predict(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="classify an image, a folder of images or a video and draw the attention",
        description="Writes an annotated image/video (attention heat map, top-1 label) and JSON lines of "
        "per-frame results: top-k classes, the attention map, anchor indices and timings.",
    )
    parser.add_argument("model", help="an exported .onnx file, or a checkpoint (.pth/.pt/.tar) for the PyTorch backend")
    parser.add_argument("input", help="an image, a folder of images, or a video file")
    parser.add_argument("-o", "--output", help="annotated image/video, or a folder for folder input (default: INPUT_aib...)")
    parser.add_argument("--results", help="JSON-lines file (default: beside the output)")
    parser.add_argument("--backend", choices=["onnxruntime", "pytorch", "tensorrt"],
                        help="default: by the model's file type (.onnx, checkpoint, .engine/.plan)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "tensorrt"],
                        help="ONNX Runtime execution provider (default auto: TensorRT or CUDA when this onnxruntime has them, else CPU)")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the runtime's choice)")
    parser.add_argument("--top-k", type=int, default=5, help="classes per result (default 5)")
    parser.add_argument("--labels", help="class labels, one per line (PyTorch backend; ONNX files carry theirs)")
    parser.set_defaults(handler="aib_deploy.predict:run_predict")



def _add_bench(commands: argparse._SubParsersAction) -> None:
    from .bench_suite import SUITE_MODELS

    parser = commands.add_parser(
        "bench",
        help="time backends side by side on the same batches",
        description="Median, p90, p95 and p99 latency and throughput per backend and batch size, measured in one "
        "run, with ratios. Give models (.onnx on ONNX Runtime, checkpoints on PyTorch, .engine on TensorRT), or "
        "--suite to build the paper's architectures with fresh weights and run every backend present here.",
    )
    parser.add_argument("models", nargs="*", help="models to time on the same batches")
    parser.add_argument("--suite", nargs="+", choices=sorted(SUITE_MODELS), metavar="MODEL",
                        help=f"architectures to build and time on every backend present ({', '.join(SUITE_MODELS)})")  # fmt: skip
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per backend and batch (default 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every backend (default 2)")
    parser.add_argument("--output", help="write bench.json, bench.csv and bench.png to this folder")
    parser.set_defaults(handler="aib_deploy.bench:run_bench")


def _add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="export the bundled demo model, run it on a synthetic video, score it",
        description="Exports the bundled WRN-AIB-qt glyph model, draws a synthetic video with ground truth, "
        "predicts every frame and writes DIR/summary.json, the annotated video and per-frame JSON lines.",
    )
    parser.add_argument("--output", default="demo-output", help="folder for everything it writes (default demo-output)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    parser.set_defaults(handler="aib_deploy.demo:run_demo")



def _add_serve(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve a model over gRPC: predictions and attention masks for frames",
        description="gRPC service aib.v1.AttentionService (GetModelInfo, Predict, StreamFrames) with health "
        "checking and reflection, micro-batching across streams, and graceful shutdown on SIGTERM/SIGINT. "
        "Binds to loopback unless --host says otherwise.",
    )
    parser.add_argument("model", help="an exported .onnx file, or a checkpoint for the PyTorch backend")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=50051, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--backend", choices=["onnxruntime", "pytorch", "tensorrt"],
                        help="default: by the model's file type (.onnx, checkpoint, .engine/.plan)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "tensorrt"])
    parser.add_argument("--threads", type=int, help="intra-op threads of the backend")
    parser.add_argument("--max-batch", type=int, default=8, help="largest micro-batch (default 8)")
    parser.add_argument("--max-delay-ms", type=float, default=2.0, help="longest wait to fill a batch (default 2)")
    parser.add_argument("--max-streams", type=int, default=64, help="concurrent calls before RESOURCE_EXHAUSTED")
    parser.add_argument("--max-pixels", type=int, default=4096 * 4096, help="largest frame in pixels")
    parser.add_argument("--token", default=os.environ.get("AIB_TOKEN"),
                        help="require `authorization: Bearer TOKEN` (default: $AIB_TOKEN, else no token)")
    parser.add_argument("--tls-cert", help="PEM certificate chain; with --tls-key serves TLS")
    parser.add_argument("--tls-key", help="PEM private key")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port (0: a free one)")
    parser.set_defaults(handler="aib_deploy.serving.server:run_serve")


def _add_stream(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stream",
        help="stream a video or camera to an aib server; write the annotated video and JSON lines",
        description="Reads frames with OpenCV, streams them to SERVER (host:port), writes the annotated video "
        "and per-frame JSON lines, shows progress, and reports end-to-end latency percentiles. "
        "Reconnects when the server restarts and goes on with the next frame.",
    )
    parser.add_argument("server", help="host:port of `aib serve`")
    parser.add_argument("source", help="a video file, or a camera index such as 0")
    parser.add_argument("-o", "--output", help="annotated .mp4 to write")
    parser.add_argument("--results", help="JSON-lines file of the FrameResults")
    parser.add_argument("--token", default=os.environ.get("AIB_TOKEN"), help="bearer token (default: $AIB_TOKEN)")
    parser.add_argument("--tls-ca", help="PEM root certificate: connect with TLS")
    parser.add_argument("--raw", action="store_true", help="send raw pixels instead of JPEG")
    parser.set_defaults(handler="aib_deploy.serving.stream_command:run_stream")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aib", description="Export, serve and benchmark AIB attention classifiers.")
    parser.add_argument("--version", action="version", version=f"aib-deploy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser("export", help="turn checkpoints into deployable artefacts")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    _add_export_onnx(formats)
    _add_export_int8(formats)
    _add_export_engine(formats)
    _add_export_triton(formats)
    _add_check(commands)
    _add_predict(commands)
    _add_bench(commands)
    _add_demo(commands)
    _add_serve(commands)
    _add_stream(commands)
    return parser


def resolve(handler: str):
    """Commands name their handler as 'module:function', imported only when that command runs."""
    module, function = handler.split(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        resolve(args.handler)(args)
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

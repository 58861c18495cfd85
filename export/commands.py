"""`aib export ...` commands: argument parsing lives in the CLI, work here."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cards import card_from_checkpoint, read_labels
from ..errors import AibError
from ..modelcard import ModelCard

if TYPE_CHECKING:
    from ..checkpoint import LoadedModel


def model_card_for(loaded: LoadedModel, args: argparse.Namespace) -> ModelCard:
    """The card the CLI options describe."""
    return card_from_checkpoint(
        loaded,
        dataset=args.dataset,
        labels=read_labels(args.labels),
        mean=tuple(args.mean) if args.mean else None,
        std=tuple(args.std) if args.std else None,
    )


def export_onnx_command(args: argparse.Namespace) -> None:
    from ..checkpoint import load_model
    from .onnx_export import check_onnx, export_onnx, report_parity

    started = time.perf_counter()
    loaded = load_model(args.checkpoint, args.weights)
    card = model_card_for(loaded, args)
    print(
        f"checkpoint {args.checkpoint}: {loaded.arch.name}, {loaded.arch.num_classes} classes, "
        f"K={loaded.arch.K}, layout {loaded.checkpoint.layout}, weights {loaded.checkpoint.weights}, "
        f"dataset {card.dataset}"
    )
    output = Path(args.output)
    export_onnx(loaded, card, output, args.opset, args.max_batch)
    check_onnx(output)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opset {args.opset}); onnx.checker full check passed")
    failures = report_parity(output, loaded.model, card)
    print(f"export took {time.perf_counter() - started:.1f} s")
    if failures:
        raise AibError(
            f"{output}: ONNX Runtime disagrees with PyTorch at batch sizes {failures} (see above); "
            "the file is kept for inspection but should not be deployed"
        )


def export_int8_command(args: argparse.Namespace) -> None:
    from ..bench import time_calls
    from ..runtime.preprocess import Preprocessor
    from ..runtime.runners.onnxrt import OnnxrtRunner
    from .int8 import export_int8

    source, output = Path(args.model), Path(args.output)
    print(f"quantizing {source.name}: calibration on {args.calibration} ({args.method}, per-channel weights), "
          f"float region: {args.float_region}")  # fmt: skip
    result = export_int8(source, output, args.calibration, args.count, args.held_out, args.method, args.float_region,
                         args.threads, args.min_index_agreement)  # fmt: skip
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB; {result.calibration_frames} calibration frames, "
          f"{result.float_nodes} nodes kept float32: {result.choice})")  # fmt: skip
    print(result.agreement.describe())
    latencies = []
    for path in (source, output):
        with OnnxrtRunner(path, device="cpu", intra_op_threads=args.threads) as runner:
            size = runner.card.input_size
            image = Preprocessor(size, runner.card.mean, runner.card.std).batch([np.zeros((size, size, 3), np.uint8)])
            latencies.append(statistics.median(time_calls(lambda: runner.infer(image), warmup=5, runs=30)))
    print(f"batch-1 latency on this CPU (median of 30): float32 {latencies[0]:.2f} ms, int8 {latencies[1]:.2f} ms "
          f"({latencies[0] / latencies[1]:.2f}x)")  # fmt: skip


def export_triton_command(args: argparse.Namespace) -> None:
    from .triton import write_repository

    folder = write_repository(Path(args.model), Path(args.repository), args.name, args.version, args.max_batch,
                              args.max_delay_us, args.kind, args.instances)  # fmt: skip
    print(f"wrote {folder}/ (config.pbtxt, labels.txt, {args.version}/)")
    print(f"serve it with: tritonserver --model-repository {Path(args.repository).resolve()}")


def export_engine_command(args: argparse.Namespace) -> None:
    from .engine import EngineOptions, build_engine

    options = EngineOptions(
        fp16=args.fp16, int8=args.int8, min_batch=args.min_batch, opt_batch=args.opt_batch, max_batch=args.max_batch,
        workspace_mib=args.workspace, timing_cache=Path(args.timing_cache) if args.timing_cache else None,
        version_compatible=args.version_compatible, hardware_compatible=args.hardware_compatible,
    )  # fmt: skip
    started = time.perf_counter()
    sidecar = build_engine(Path(args.model), Path(args.output), options)
    print(f"wrote {args.output} ({sidecar['precision']}, batch {options.min_batch}-{options.max_batch}, "
          f"TensorRT {sidecar['tensorrt_version']}, {sidecar['gpu']}) in {time.perf_counter() - started:.0f} s; "
          f"{len(sidecar['float32_layers_from_onnx_nodes'])} snap nodes pinned to float32; sidecar beside it")  # fmt: skip

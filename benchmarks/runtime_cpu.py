"""ONNX Runtime (CPU) against PyTorch eager, side by side, for VGG-CIFAR and the demo model.

    .venv/bin/python benchmarks/runtime_cpu.py [--runs 30] [--threads 2] [--json results.json]

VGG-CIFAR-10 is built with fresh weights (speed does not depend on them),
saved in the paper's checkpoint layout and exported like a user's model; the
demo model is the bundled checkpoint. Both backends run the same batches
with the same thread count; medians of --runs timed runs after warm-up.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from aib_deploy.bench.environment import environment
from aib_deploy.bench.measure import bench_runners
from aib_deploy.bench.report import format_rows, speedups
from aib_deploy.card.architecture import Architecture
from aib_deploy.cli.options import add_timing_options, bench_options
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint
from aib_deploy.models import build_model
from aib_deploy.runtime import RunnerOptions, open_runner


def vgg_cifar_checkpoint(folder: Path) -> Path:
    model = build_model(Architecture("vgg_cifar", num_classes=10, K=256))
    path = folder / "vgg_cifar10.pth"
    torch.save({"epoch": 0, "model_states": {"net": {"module." + k: v for k, v in model.state_dict().items()}}}, path)
    return path


def exported(checkpoint: Path, folder: Path, dataset: str | None) -> Path:
    path = folder / (checkpoint.stem + ".onnx")
    export_checkpoint(checkpoint, path, OnnxExportOptions(dataset=dataset))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_options(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    options = bench_options(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for checkpoint, dataset in ((vgg_cifar_checkpoint(folder), None), (bundled_checkpoint(), "glyphs")):
            onnx = exported(checkpoint, folder, dataset)
            runners = [
                open_runner(onnx, RunnerOptions(backend="onnxruntime", threads=args.threads)),
                open_runner(checkpoint, RunnerOptions(backend="pytorch", threads=args.threads, dataset=dataset)),
            ]
            rows.extend(bench_runners(runners, options))
    print(format_rows(rows))
    for line in speedups(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

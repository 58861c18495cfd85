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

from aib_deploy.architecture import Architecture
from aib_deploy.bench import bench_runners, environment, format_rows, speedups
from aib_deploy.cards import card_from_checkpoint
from aib_deploy.checkpoint import load_model
from aib_deploy.demo import bundled_checkpoint
from aib_deploy.export.onnx_export import export_onnx
from aib_deploy.models import build_model
from aib_deploy.runtime.predictor import open_runner


def vgg_cifar_checkpoint(folder: Path) -> Path:
    model = build_model(Architecture("vgg_cifar", num_classes=10, K=256))
    path = folder / "vgg_cifar10.pth"
    torch.save({"epoch": 0, "model_states": {"net": {"module." + k: v for k, v in model.state_dict().items()}}}, path)
    return path


def exported(checkpoint: Path, folder: Path, dataset: str | None) -> Path:
    loaded = load_model(checkpoint)
    path = folder / (checkpoint.stem + ".onnx")
    export_onnx(loaded, card_from_checkpoint(loaded, dataset=dataset), path, opset=18, max_batch=64)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for checkpoint, dataset in ((vgg_cifar_checkpoint(folder), None), (bundled_checkpoint(), "glyphs")):
            onnx = exported(checkpoint, folder, dataset)
            runners = [open_runner(onnx, "onnxruntime", threads=args.threads),
                       open_runner(checkpoint, "pytorch", threads=args.threads, dataset=dataset)]  # fmt: skip
            rows.extend(bench_runners(runners, args.batch, args.warmup, args.runs))
    print(format_rows(rows))
    for line in speedups(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

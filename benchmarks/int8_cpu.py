"""INT8 (Q/DQ) against float32 on ONNX Runtime CPU, with agreement, side by side in one run.

    .venv/bin/python benchmarks/int8_cpu.py [--runs 50] [--held-out 2000] [--threads 2]

For VGG-CIFAR-10-qt (fresh weights: speed does not depend on them) and the
demo model, each float region of `aib export int8` is quantized from the same
synthetic calibration frames; float32 and both INT8 files then run the same
batches (medians of --runs after warm-up), and the demo model's INT8 files are
compared with its float32 file on --held-out synthetic frames never calibrated on.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from runtime_cpu import exported

from aib_deploy.backends.onnxrt import OnnxrtRunner
from aib_deploy.bench.measure import bench_runners
from aib_deploy.bench.report import format_rows, speedups
from aib_deploy.bench.suite import SUITE_MODELS, fresh_checkpoint
from aib_deploy.cli.options import add_timing_options, bench_options
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.export.int8 import FLOAT_REGIONS, Int8Options, export_int8

CALIBRATION_FRAMES = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_timing_options(parser)
    parser.add_argument("--held-out", type=int, default=2000)
    args = parser.parse_args()
    options = bench_options(args)
    rows, agreements = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for checkpoint, dataset in (
            (fresh_checkpoint(SUITE_MODELS["vgg_cifar"], folder, "vgg_cifar_qt"), None),
            (bundled_checkpoint(), "glyphs"),
        ):
            float_path = exported(checkpoint, folder, dataset)
            runners = [OnnxrtRunner(float_path, device="cpu", intra_op_threads=args.threads)]
            for region in FLOAT_REGIONS:
                path = folder / f"{float_path.stem}.{region}.int8.onnx"
                held_out = args.held_out if dataset == "glyphs" else 64  # fresh VGG weights: agreement means nothing
                int8 = Int8Options(count=CALIBRATION_FRAMES, held_out=held_out, float_region=region, threads=args.threads)
                result = export_int8(float_path, path, int8)
                if dataset == "glyphs":
                    agreements.append(f"demo model, float {region}: {result.agreement.describe()}")
                runners.append(OnnxrtRunner(path, device="cpu", intra_op_threads=args.threads))
            rows.extend(bench_runners(runners, options))
    print(format_rows(rows))
    for line in speedups(rows):
        print(line)
    for line in agreements:
        print(line)


if __name__ == "__main__":
    main()

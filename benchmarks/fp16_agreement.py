"""`aib export fp16` on every conformance family: agreement with float32 on held-out synthetic frames.

    .venv/bin/python -m benchmarks.fp16_agreement [--frames 256] [--cub-frames 64]   (from the repository root)

The conformance cases carry the weights of the paper-code reference runs (not trained
models), so the figures say how far fp16 moves logits and anchors on such weights; the demo
model is the trained case. CUB models run at 224x224 and get fewer frames.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.export.fp16 import Fp16Options, export_fp16
from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint
from tests.helpers.checkpoint_files import CASES, write_case_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--cub-frames", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = {"demo (trained)": (bundled_checkpoint(), "glyphs")}
        sources.update({name: (write_case_checkpoint(name, folder / f"{name}.pth"), None) for name in sorted(CASES)})
        for name, (checkpoint, dataset) in sources.items():
            source = folder / f"{checkpoint.stem}.onnx"
            export_checkpoint(checkpoint, source, OnnxExportOptions(dataset=dataset))
            frames = args.cub_frames if name.startswith("cub") else args.frames
            started = time.perf_counter()
            result = export_fp16(
                source, folder / f"{checkpoint.stem}.fp16.onnx", Fp16Options(held_out=frames, threads=args.threads)
            )
            print(f"{name}: {result.agreement.describe()} ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

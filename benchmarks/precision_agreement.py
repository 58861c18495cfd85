"""`aib export fp16` and `aib export int8` on the demo model and every conformance family, side by side:
agreement of each file with its float32 file on the same held-out synthetic frames, and whether its
attention values are exactly the float32 anchors its indices name.

    .venv/bin/python -m benchmarks.precision_agreement [--frames 256] [--cub-frames 64] [--calibration 64]

(from the repository root). The conformance cases carry the weights of the paper-code reference runs
(not trained models), so the figures say how far fp16 and INT8 move logits and anchors on such weights;
the demo model is the trained case. CUB models run at 224x224 and get fewer frames. INT8 uses the
default `--float auto` region and the given number of synthetic calibration frames.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.export.fp16 import Fp16Options, export_fp16
from aib_deploy.export.int8 import Int8Options, export_int8
from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint
from aib_deploy.runtime.compare import Agreement, Gate
from tests.helpers.checkpoint_files import CASES, write_case_checkpoint

NO_GATE = Gate(0, 0)  # report every figure; reference-run weights are not meant to pass a gate


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def row(model: str, precision: str, agreement: Agreement, seconds: float) -> str:
    on_anchors = getattr(agreement, "attention_on_anchors", None)
    cells = [agreement.top1, agreement.index_exact, agreement.index_within_one_step, on_anchors]
    return f"| {model} | {precision} | {agreement.frames} | " + " | ".join(map(share, cells)) + f" | {seconds:.0f} s |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=256, help="held-out frames at 32x32")
    parser.add_argument("--cub-frames", type=int, default=64, help="held-out frames at 224x224")
    parser.add_argument("--calibration", type=int, default=64, help="INT8 calibration frames")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", help="only these (demo and conformance case names; default all)")
    args = parser.parse_args()
    print("| model | file | frames | top-1 | anchor index exact | within one step | attention on its anchor | time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = args.models or ["demo", *sorted(CASES)]
        sources = {"demo (trained)": (bundled_checkpoint(), "glyphs")} if "demo" in names else {}
        sources.update({name: (write_case_checkpoint(name, folder / f"{name}.pth"), None) for name in names if name in CASES})
        for name, (checkpoint, dataset) in sources.items():
            source = folder / f"{checkpoint.stem}.onnx"
            export_checkpoint(checkpoint, source, OnnxExportOptions(dataset=dataset))
            frames = args.cub_frames if name.startswith("cub") else args.frames
            started = time.perf_counter()
            options = Fp16Options(held_out=frames, threads=args.threads, fail_under=NO_GATE, progress=False)
            fp16 = export_fp16(source, folder / f"{checkpoint.stem}.fp16.onnx", options)
            print(row(name, "fp16", fp16.agreement, time.perf_counter() - started), flush=True)
            started = time.perf_counter()
            options = Int8Options(
                count=args.calibration, held_out=frames, threads=args.threads, fail_under=NO_GATE, progress=False
            )
            int8 = export_int8(source, folder / f"{checkpoint.stem}.int8.onnx", options)
            print(row(name, "int8 auto", int8.agreement, time.perf_counter() - started), flush=True)


if __name__ == "__main__":
    main()

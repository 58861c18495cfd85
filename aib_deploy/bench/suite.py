"""`aib bench --suite`: the paper's architectures with fresh weights, on every backend present here.

Speed does not depend on the weights, so each architecture is built fresh,
saved as a checkpoint (PyTorch eager), exported (ONNX Runtime float32),
quantized from synthetic frames (ONNX Runtime INT8, both float regions), and,
where the hardware and libraries exist, run on ONNX Runtime CUDA, PyTorch CUDA
and TensorRT (FP16 from the float file, INT8 from the Q/DQ file). Backends
that are not present are listed with the reason, not silently left out.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..backends.base import Runner
from ..card.architecture import Architecture
from ..errors import AibError
from .measure import BenchOptions, bench_runners

SUITE_MODELS = {
    "vgg_cifar": Architecture("vgg_cifar", num_classes=10, K=256, quantized=True, qt_num=20),
    "wrn_28_10": Architecture("wrn_cifar", num_classes=10, K=512, quantized=True, qt_num=20, depth=28, widen_factor=10),
    "cub_vgg16": Architecture("cub", num_classes=200, K=256, quantized=True, qt_num=20, backbone="vgg16"),
}
CALIBRATION_FRAMES = 32
INT8_REGIONS = ("attention-path", "head")


def fresh_checkpoint(arch: Architecture, folder: Path, name: str) -> Path:
    import torch

    from ..models import build_model

    torch.manual_seed(0)
    path = folder / f"{name}.pth"
    torch.save(build_model(arch).state_dict(), path)
    return path


def exported_files(arch: Architecture, folder: Path, name: str, max_batch: int) -> tuple[Path, Path, dict[str, Path]]:
    """Checkpoint, float32 ONNX, and one INT8 ONNX per float region."""
    from ..export.int8 import Int8Options, export_int8
    from ..export.onnx_export import OnnxExportOptions, export_checkpoint

    checkpoint = fresh_checkpoint(arch, folder, name)
    onnx_path = folder / f"{name}.onnx"
    export_checkpoint(checkpoint, onnx_path, OnnxExportOptions(max_batch=max_batch))
    int8 = {}
    for region in INT8_REGIONS:
        int8[region] = folder / f"{name}.{region}.int8.onnx"
        export_int8(onnx_path, int8[region], Int8Options(count=CALIBRATION_FRAMES, held_out=16, float_region=region, timed=False))
    return checkpoint, onnx_path, int8


def gpu_runners(
    checkpoint: Path, onnx_path: Path, int8: dict[str, Path], folder: Path, max_batch: int, skipped: dict[str, str]
) -> list[Runner]:
    import onnxruntime
    import torch

    from ..backends.onnxrt import OnnxrtRunner
    from ..backends.pytorch import TorchRunner

    runners: list[Runner] = []
    if torch.cuda.is_available():  # fp32, fp16 as the fp16 file has it (snap in float32), and fp32 in CUDA graphs
        runners += [
            TorchRunner(checkpoint, device="cuda"),
            TorchRunner(checkpoint, device="cuda", precision="fp16"),
            TorchRunner(checkpoint, device="cuda", cuda_graphs=True),
        ]
    else:
        skipped["pytorch-cuda"] = "this PyTorch sees no CUDA device"
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        runners.append(OnnxrtRunner(onnx_path, device="cuda"))
    else:
        skipped["onnxruntime-cuda"] = "this onnxruntime has no CUDAExecutionProvider"
    runners.extend(tensorrt_runners(onnx_path, int8["head"], folder, max_batch, skipped))
    return runners


def tensorrt_runners(onnx_path: Path, int8_path: Path, folder: Path, max_batch: int, skipped: dict[str, str]) -> list[Runner]:
    """fp16 and int8 engines, strongly typed: built from an `aib export fp16` file and the INT8 (Q/DQ) file."""
    from ..backends.tensorrt.builder import build_engine
    from ..backends.tensorrt.cuda import import_tensorrt
    from ..backends.tensorrt.options import EngineOptions
    from ..backends.tensorrt.runner import TensorrtRunner
    from ..export.fp16 import Fp16Options, export_fp16

    try:
        import_tensorrt()
    except AibError as error:
        skipped.update({"tensorrt fp16": str(error), "tensorrt int8": str(error)})
        return []
    fp16_path = folder / f"{onnx_path.stem}.fp16.onnx"
    export_fp16(onnx_path, fp16_path, Fp16Options(held_out=16))
    runners: list[Runner] = []
    for precision, source in (("fp16", fp16_path), ("int8", int8_path)):
        engine = folder / f"{source.stem}.{precision}.engine"
        try:
            build_engine(source, engine, EngineOptions(opt_batch=max_batch, max_batch=max_batch))
        except AibError as error:
            skipped[f"tensorrt {precision}"] = str(error)
            continue
        runners.append(TensorrtRunner(engine))
    return runners


def run_suite(options: BenchOptions) -> tuple[list[dict], dict[str, str]]:
    """Rows for every architecture in `options.suite` on every backend present, and why others were skipped."""
    from ..backends.onnxrt import OnnxrtRunner
    from ..backends.pytorch import TorchRunner

    rows: list[dict] = []
    skipped: dict[str, str] = {}
    threads, max_batch = options.threads, max(options.batches)
    with tempfile.TemporaryDirectory(prefix="aib-bench-") as tmp:
        for name in options.suite:
            if name not in SUITE_MODELS:
                raise AibError(f"--suite: unknown model {name!r}; expected one of {', '.join(SUITE_MODELS)}")
            folder = Path(tmp)
            print(f"{name}: building, exporting and quantizing with fresh weights", flush=True)
            checkpoint, onnx_path, int8 = exported_files(SUITE_MODELS[name], folder, name, max_batch)
            runners: list[Runner] = [
                TorchRunner(checkpoint, device="cpu", threads=threads),
                OnnxrtRunner(onnx_path, device="cpu", intra_op_threads=threads),
            ]
            runners += [OnnxrtRunner(path, device="cpu", intra_op_threads=threads) for path in int8.values()]
            runners += gpu_runners(checkpoint, onnx_path, int8, folder, max_batch, skipped)
            rows.extend(bench_runners(runners, options))
            for runner in runners:
                runner.deactivate()
    return rows, skipped

"""Opening a model file: which backend runs it and with which settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends.base import Runner
from ..contract import ENGINE_SUFFIXES
from ..errors import AibError
from .predictor import DEFAULT_TOP_K, Predictor

BACKENDS = ("onnxruntime", "pytorch", "tensorrt")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt")


@dataclass(frozen=True)
class RunnerOptions:
    """How to run a model; the CLI's backend option group builds one.

    `backend` None picks by the file's suffix. `spinning` (ONNX Runtime only) lets
    idle threads busy-wait; servers turn it off. `weights`, `dataset`, `labels` and
    `precision` apply to checkpoints (exported files carry their card and their
    precision), and so does `compile_mode` (torch.compile); `cuda_graphs` to
    PyTorch on CUDA and to TensorRT engines.
    """

    backend: str | None = None
    device: str = "auto"
    threads: int | None = None
    spinning: bool = True
    weights: str = "net"
    dataset: str | None = None
    labels: tuple[str, ...] | None = None
    precision: str | None = None
    cuda_graphs: bool = False
    compile_mode: str | None = None


def backend_for(path: Path) -> str:
    if path.suffix in CHECKPOINT_SUFFIXES:
        return "pytorch"
    return "tensorrt" if path.suffix in ENGINE_SUFFIXES else "onnxruntime"


def open_runner(model: str | Path, options: RunnerOptions = RunnerOptions()) -> Runner:
    """A runner for MODEL: `.onnx` files run on ONNX Runtime, checkpoints on PyTorch, engines on TensorRT."""
    path = Path(model)
    backend = options.backend or backend_for(path)
    if options.labels is not None and backend != "pytorch":
        raise AibError(
            f"--labels: {path.name} carries the labels it was exported with (its model card); --labels names "
            "a checkpoint's classes (PyTorch backend), or give them to `aib export onnx --labels`"
        )
    if options.precision is not None and backend != "pytorch":
        raise AibError(
            f"--precision: {path.name} carries its precision ({backend} runs it as written); --precision applies to "
            "checkpoints on PyTorch; write reduced-precision files with `aib export fp16` or `aib export int8`"
        )
    if options.compile_mode is not None and backend != "pytorch":
        raise AibError(f"--compile: torch.compile runs checkpoints on PyTorch, not {path.name} on {backend}")
    if options.cuda_graphs and backend == "onnxruntime":
        raise AibError(
            f"--cuda-graphs: applies to checkpoints on PyTorch CUDA and to TensorRT engines, not to {path.name} on ONNX Runtime"
        )
    if backend == "onnxruntime":
        from ..backends.onnxrt import OnnxrtRunner

        return OnnxrtRunner(path, device=options.device, intra_op_threads=options.threads, spinning=options.spinning)
    if backend == "pytorch":
        from ..backends.pytorch import TorchRunner

        return TorchRunner(
            path,
            weights=options.weights,
            dataset=options.dataset,
            labels=options.labels,
            device=options.device,
            threads=options.threads,
            precision=options.precision or "fp32",
            cuda_graphs=options.cuda_graphs,
            compile_mode=options.compile_mode,
        )
    if backend == "tensorrt":
        from ..backends.tensorrt.runner import TensorrtRunner

        if path.suffix not in ENGINE_SUFFIXES:
            raise AibError(
                f"--backend tensorrt: runs TensorRT engines ({', '.join(ENGINE_SUFFIXES)}), got {path.name}; "
                "build one with `aib export engine`, or use --device tensorrt for ONNX Runtime's TensorRT provider"
            )
        return TensorrtRunner(path, cuda_graphs=options.cuda_graphs)
    raise AibError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")


def load_predictor(
    model: str | Path, options: RunnerOptions = RunnerOptions(), top_k: int = DEFAULT_TOP_K, max_batch: int | None = None
) -> Predictor:
    """Open MODEL with `open_runner` and wrap it in a Predictor (max batch: the model's)."""
    return Predictor(open_runner(model, options), top_k=top_k, max_batch=max_batch)

"""PyTorch backend: run a checkpoint directly, without exporting it.

`precision="fp16"` runs the model as `aib export fp16` writes the ONNX file (float16 backbone, the
sigmoid and the anchor snap in float32). `"fp32"` keeps TF32 off on CUDA (true float32 products);
`"tf32"` lets CUDA matrix products and convolutions use it. `cuda_graphs=True` captures one CUDA graph
per batch size and replays it. `compile_mode` runs the deterministic path through `torch.compile`,
compiled for the first batch size and then once more with the batch dimension dynamic. The CUDA paths
ran on an NVIDIA H200 in `scripts/gpu_suite.sh` (2026-11-30, docs/benchmarks.md), which has no place in
CI; its --dry-run, which a test runs, takes the same code through the CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..card.model_card import ModelCard
from ..errors import AibError
from .base import Runner

PRECISIONS = ("fp32", "tf32", "fp16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")  # torch.compile's


class TorchRunner(Runner):
    """The deterministic path of a checkpoint, in eager mode; `auto` takes CUDA when present."""

    name = "pytorch"

    @property
    def label(self) -> str:
        graphs = " cuda-graphs" if self.cuda_graphs else ""
        compiled = f" compile:{self.compile_mode}" if self.compile_mode else ""
        return f"{self.name}-{self.device} {self.precision}{graphs}{compiled}"

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def __init__(
        self,
        checkpoint: str | Path,
        weights: str = "net",
        dataset: str | None = None,
        labels: tuple[str, ...] | None = None,
        device: str = "auto",
        threads: int | None = None,
        precision: str = "fp32",
        cuda_graphs: bool = False,
        compile_mode: str | None = None,
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise AibError(f"PyTorch precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise AibError(f"--compile: expected one of {', '.join(COMPILE_MODES)}, got {compile_mode!r}")
        self._precision = precision
        self.cuda_graphs = cuda_graphs
        self.compile_mode = compile_mode
        self._forward = None
        self._graphs: dict[tuple[int, ...], tuple[object, object, object]] = {}
        self.path = Path(checkpoint)
        self.weights = weights
        self.dataset = dataset
        self.labels = labels
        self.device = device
        self.threads = threads
        self.model = None

    def activate_impl(self) -> ModelCard:
        import torch

        from ..models.checkpoint import card_from_checkpoint, load_model

        if self.threads:
            torch.set_num_threads(self.threads)
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        elif self.device != "cpu":
            if not torch.cuda.is_available():
                raise AibError(f"--device {self.device}: this PyTorch has no CUDA device")
            self.device = "cuda"  # "tensorrt" names an ONNX Runtime provider; CUDA is PyTorch's nearest
        if self.cuda_graphs and self.device != "cuda":
            raise AibError("--cuda-graphs: PyTorch CUDA graphs need a CUDA device, and this PyTorch has none")
        if self.precision == "tf32" and self.device != "cuda":
            raise AibError("--precision tf32: TF32 is a CUDA matrix mode, and this run is on the CPU; use fp32")
        loaded = load_model(self.path, self.weights)
        card = card_from_checkpoint(loaded, dataset=self.dataset, labels=self.labels)
        self.model = loaded.model.to(self.device)
        if self.precision == "fp16":
            self.model.to_fp16_with_float32_snap()
        self._forward = self.model.deterministic
        if self.compile_mode:
            self._forward = torch.compile(self.model.deterministic, mode=self.compile_mode)
        return card

    def infer_impl(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        tensor = self._tensor(images)
        if self.on_gpu:  # a process-wide switch: set on every call, since runners of both kinds may share a process
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.precision == "tf32"
        with torch.inference_mode():
            outputs = self._replay(tensor) if self.cuda_graphs else self._forward(tensor)
        return self._arrays(outputs)

    def stochastic_generator(self, seed: int):
        """The random source for `infer_stochastic`: a `torch.Generator` on this runner's device, seeded, so a
        run of batches drawn from it is reproducible."""
        import torch

        if not self.is_active:
            raise RuntimeError(f"{self.name}: activate() the runner before stochastic_generator()")
        return torch.Generator(device=self.device).manual_seed(seed)

    def infer_stochastic(self, images: np.ndarray, samples: int, generator) -> dict[str, np.ndarray]:
        """The paper's sampled evaluation, which only a checkpoint can run: `logits` averaged over `samples`
        draws (its num_avg) and the mean sampled `attention`, on the batches `infer` takes."""
        import torch

        if not self.is_active:
            raise RuntimeError(f"{self.name}: activate() the runner before infer_stochastic()")
        with torch.inference_mode():
            return self._arrays(self.model.stochastic(self._tensor(images), samples, generator))

    def _tensor(self, images: np.ndarray):
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        return tensor.half() if self.precision == "fp16" else tensor

    @staticmethod
    def _arrays(outputs) -> dict[str, np.ndarray]:
        """The contract's outputs as numpy arrays, float16 ones widened to float32 as the ONNX files give them."""
        arrays = outputs.as_arrays()
        return {name: value.astype(np.float32) if value.dtype == np.float16 else value for name, value in arrays.items()}

    def _replay(self, tensor):
        """The captured graph for this input shape (captured on first use, after a warm-up on a side stream)."""
        import torch

        if tensor.shape not in self._graphs:
            static_input = tensor.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._forward(static_input)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_output = self._forward(static_input)
            self._graphs[tensor.shape] = (graph, static_input, static_output)
        graph, static_input, static_output = self._graphs[tensor.shape]
        static_input.copy_(tensor)
        graph.replay()
        return static_output

    def deactivate_impl(self) -> None:
        self._graphs.clear()
        self.model = self._forward = None

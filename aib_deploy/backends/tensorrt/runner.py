"""TensorRT backend: runs an engine built by `aib export engine`, reading its sidecar JSON.

NOT EXECUTED in this project's CI or on its development machines (no TensorRT
builder and no GPU there): written against NVIDIA's documented TensorRT 10
Python API and cuda-python, imported only when an engine is opened. The
sidecar and compatibility rules (`sidecar.py`) run without either and are tested.

Execution: one CUDA stream per runner (one execution context), device buffers
sized for the profile's largest batch, pinned host buffers, tensor addresses
set once, `execute_async_v3` per batch; with `cuda_graphs=True` each batch size
is captured once into a CUDA graph and replayed.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ...card.model_card import ModelCard
from ...contract import INPUT_NAME, output_names
from ...errors import AibError
from ..base import Runner
from .cuda import check, current_gpu, import_cudart, import_tensorrt
from .sidecar import compatibility_problems, read_sidecar, sidecar_card


class TensorrtRunner(Runner):
    name = "tensorrt"

    def __init__(self, engine: str | Path, cuda_graphs: bool = False) -> None:
        super().__init__()
        self.path = Path(engine)
        self.cuda_graphs = cuda_graphs
        self.sidecar: dict = {}

    @property
    def label(self) -> str:
        precision = self.sidecar.get("precision", "?")
        return f"{self.name} {precision}{' cuda-graphs' if self.cuda_graphs else ''}"

    def activate_impl(self) -> ModelCard:
        self.sidecar = read_sidecar(self.path)
        card = sidecar_card(self.path, self.sidecar)
        trt = import_tensorrt()
        cudart = import_cudart()
        gpu, capability = current_gpu(cudart)
        problems = compatibility_problems(self.sidecar, trt.__version__, gpu, capability)
        if problems:
            raise AibError(f"engine {self.path}: {'; '.join(problems)}; rebuild it here with `aib export engine`")
        self._trt, self._cudart = trt, cudart
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        runtime.engine_host_code_allowed = bool(self.sidecar.get("version_compatible"))
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise AibError(f"engine {self.path}: TensorRT could not deserialize it; rebuild it with `aib export engine`")
        self.context = self.engine.create_execution_context()
        self.stream = check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self.buffers = {}
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        expected = [INPUT_NAME, *output_names(card.architecture.quantized)]
        if sorted(names) != sorted(expected):
            raise AibError(f"engine {self.path}: tensors {names} do not follow the contract {expected}")
        for name in names:
            self.buffers[name] = self._allocate(name, card)
            self.context.set_tensor_address(name, int(self.buffers[name][0]))
        self._output_names = [name for name in expected if name != INPUT_NAME]
        self._graphs: dict[int, object] = {}
        return card

    def _allocate(self, name: str, card: ModelCard) -> tuple[int, np.ndarray]:
        """Device memory and a pinned host array, both for the largest batch."""
        dtype = np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))
        shape = tuple(self.engine.get_tensor_shape(name))[1:]
        if any(dim < 0 for dim in shape):
            raise AibError(f"engine {self.path}: tensor {name} has dynamic dimensions besides the batch: {shape}")
        full = (card.batch_limit, *shape)
        size = int(np.prod(full)) * dtype.itemsize
        device = check(self._cudart.cudaMalloc(size), f"cudaMalloc for {name}")
        host_pointer = check(self._cudart.cudaMallocHost(size), f"cudaMallocHost for {name}")
        host = np.frombuffer((ctypes.c_byte * size).from_address(int(host_pointer)), dtype=dtype).reshape(full)
        return device, host

    def _copy(self, name: str, batch: int, to_device: bool) -> None:
        device, host = self.buffers[name]
        size = host[:batch].nbytes
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice if to_device else self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        source, target = (host.ctypes.data, device) if to_device else (device, host.ctypes.data)
        check(self._cudart.cudaMemcpyAsync(target, source, size, kind, self.stream), f"copy {name}")

    def _execute(self, batch: int) -> None:
        cudart = self._cudart
        if not self.cuda_graphs:
            if not self.context.execute_async_v3(self.stream):
                raise AibError(f"engine {self.path}: execute_async_v3 failed at batch {batch}")
            return
        if batch not in self._graphs:
            self.context.execute_async_v3(self.stream)  # TensorRT's deferred updates land before capture
            check(cudart.cudaStreamBeginCapture(self.stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal),
                  "cudaStreamBeginCapture")  # fmt: skip
            self.context.execute_async_v3(self.stream)
            graph = check(cudart.cudaStreamEndCapture(self.stream), "cudaStreamEndCapture")
            self._graphs[batch] = check(cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        check(cudart.cudaGraphLaunch(self._graphs[batch], self.stream), "cudaGraphLaunch")

    def infer_impl(self, images: np.ndarray) -> dict[str, np.ndarray]:
        batch = len(images)
        if batch > self.max_batch:
            raise AibError(f"engine {self.path}: batch {batch} exceeds the profile's maximum {self.max_batch}")
        self.context.set_input_shape(INPUT_NAME, images.shape)
        self.buffers[INPUT_NAME][1][:batch] = images
        self._copy(INPUT_NAME, batch, to_device=True)
        self._execute(batch)
        for name in self._output_names:
            self._copy(name, batch, to_device=False)
        check(self._cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return {name: self.buffers[name][1][:batch].copy() for name in self._output_names}

    def deactivate_impl(self) -> None:
        cudart = self._cudart
        for graph in self._graphs.values():
            cudart.cudaGraphExecDestroy(graph)
        for device, host in self.buffers.values():
            cudart.cudaFree(device)
            cudart.cudaFreeHost(host.ctypes.data)
        cudart.cudaStreamDestroy(self.stream)
        self.context = self.engine = None

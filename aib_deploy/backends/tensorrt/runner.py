"""TensorRT backend: runs an engine built by `aib export engine`, reading its sidecar JSON.

NOT EXECUTED in this project's CI or on its development machines (no GPU and no
TensorRT builder there): written against the TensorRT 10/11 runtime API and
cuda-python, imported only when an engine is opened. What does run here: the
sidecar and compatibility rules (`sidecar.py`), and a test that every runtime
name used below exists on the real lean-runtime bindings of TensorRT 10.16
and 11.4 (`tests/backends/test_tensorrt_api.py`). The receivers are named
`trt`, `runtime`, `engine` and `context` throughout, so that test can read them.

Execution: one non-blocking CUDA stream, device buffers sized for the profile's
largest batch, pinned host buffers, `execute_async_v3`. Batches outside the
profile's min..max are refused. With `cuda_graphs=True` each batch size gets
its own execution context (input shape and tensor addresses set once, so the
captured graph stays valid) and its own captured graph, replayed afterwards.
Those contexts share one scratch allocation (`USER_MANAGED`, sized by the
engine's `device_memory_size_v2`): they only ever run one at a time, on the
one stream, so a captured batch size costs its graph, not another copy of the
activation memory. A capture that fails ends the capture before it raises, so
the stream is usable again.
With only the lean runtime installed (`tensorrt_lean`), version-compatible
engines run; others are refused with one line.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ...card.model_card import ModelCard
from ...contract import INPUT_NAME, output_names
from ...errors import AibError
from ..base import Runner
from .cuda import check, current_gpu, import_cudart, import_runtime, is_lean
from .sidecar import compatibility_problems, read_sidecar, sidecar_card, sidecar_precision


class TensorrtRunner(Runner):
    name = "tensorrt"

    def __init__(self, engine: str | Path, cuda_graphs: bool = False) -> None:
        super().__init__()
        self.path = Path(engine)
        self.cuda_graphs = cuda_graphs
        self.sidecar: dict = {}

    @property
    def precision(self) -> str:
        return sidecar_precision(self.sidecar)

    @property
    def on_gpu(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return f"{self.name} {self.precision}{' cuda-graphs' if self.cuda_graphs else ''}"

    def activate_impl(self) -> ModelCard:
        self.sidecar = read_sidecar(self.path)
        card = sidecar_card(self.path, self.sidecar)
        trt = import_runtime()
        if is_lean(trt) and not self.sidecar.get("version_compatible"):
            raise AibError(
                f"engine {self.path}: the lean runtime runs version-compatible engines only; rebuild it with "
                "`aib export engine --version-compatible`, or install the full tensorrt package"
            )
        cudart = import_cudart()
        gpu, capability = current_gpu(cudart)
        problems = compatibility_problems(self.sidecar, trt.__version__, gpu, capability)
        if problems:
            raise AibError(f"engine {self.path}: {'; '.join(problems)}; rebuild it here with `aib export engine`")
        self.trt, self._cudart = trt, cudart
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        runtime.engine_host_code_allowed = bool(self.sidecar.get("version_compatible"))
        engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise AibError(f"engine {self.path}: TensorRT could not deserialize it; rebuild it with `aib export engine`")
        self.runtime, self.engine = runtime, engine
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        expected = [INPUT_NAME, *output_names(card.architecture.quantized)]
        if sorted(names) != sorted(expected):
            raise AibError(f"engine {self.path}: tensors {names} do not follow the contract {expected}")
        smallest, _, largest = engine.get_tensor_profile_shape(INPUT_NAME, 0)
        self.batch_range = (int(smallest[0]), int(largest[0]))
        self.stream = check(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        self.buffers = {name: self._allocate(name, card) for name in names}
        self._output_names = expected[1:]
        self._contexts: dict[int, object] = {}  # batch size -> its execution context (CUDA graphs only)
        self._graphs: dict[int, object] = {}  # batch size -> instantiated graph
        self._scratch: int | None = None  # the activation memory the captured contexts share
        self.context = self._new_context()
        return card

    def _new_context(self, shared_scratch: bool = False):
        engine = self.engine
        if shared_scratch:
            context = engine.create_execution_context(self.trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        else:
            context = engine.create_execution_context()
        if context is None:
            raise AibError(f"engine {self.path}: TensorRT could not create an execution context (out of GPU memory?)")
        if shared_scratch:
            size = engine.device_memory_size_v2
            if self._scratch is None:
                self._scratch = int(check(self._cudart.cudaMalloc(size), "cudaMalloc for the shared scratch memory"))
            context.set_device_memory(self._scratch, size)
        for name, (device, _) in self.buffers.items():
            if not context.set_tensor_address(name, int(device)):
                raise AibError(f"engine {self.path}: TensorRT refused the address of tensor {name}")
        return context

    def _allocate(self, name: str, card: ModelCard) -> tuple[int, np.ndarray]:
        """Device memory and a pinned host array, both for the largest batch."""
        engine = self.engine
        dtype = np.dtype(self.trt.nptype(engine.get_tensor_dtype(name)))
        shape = tuple(engine.get_tensor_shape(name))[1:]
        if any(dim < 0 for dim in shape):
            raise AibError(f"engine {self.path}: tensor {name} has dynamic dimensions besides the batch: {shape}")
        full = (self.batch_range[1], *shape)
        size = int(np.prod(full)) * dtype.itemsize
        device = check(self._cudart.cudaMalloc(size), f"cudaMalloc for {name}")
        host_pointer = check(self._cudart.cudaMallocHost(size), f"cudaMallocHost for {name}")
        host = np.frombuffer((ctypes.c_byte * size).from_address(int(host_pointer)), dtype=dtype).reshape(full)
        return device, host

    def _copy(self, name: str, batch: int, to_device: bool) -> None:
        device, host = self.buffers[name]
        size = host[:batch].nbytes
        kinds = self._cudart.cudaMemcpyKind
        kind = kinds.cudaMemcpyHostToDevice if to_device else kinds.cudaMemcpyDeviceToHost
        source, target = (host.ctypes.data, device) if to_device else (device, host.ctypes.data)
        check(self._cudart.cudaMemcpyAsync(target, source, size, kind, self.stream), f"copy {name}")

    def _enqueue(self, context, shape: tuple[int, ...]) -> None:
        if not context.set_input_shape(INPUT_NAME, shape):
            raise AibError(f"engine {self.path}: TensorRT refused input shape {shape}")
        if not context.execute_async_v3(self.stream):
            raise AibError(f"engine {self.path}: execute_async_v3 failed at batch {shape[0]}")

    def _execute(self, shape: tuple[int, ...]) -> None:
        batch = shape[0]
        if not self.cuda_graphs:
            self._enqueue(self.context, shape)
            return
        if batch not in self._graphs:
            self._capture(shape)
        check(self._cudart.cudaGraphLaunch(self._graphs[batch], self.stream), "cudaGraphLaunch")

    def _capture(self, shape: tuple[int, ...]) -> None:
        """Capture one batch size's graph in its own context; on any failure the capture is ended (its
        partial graph destroyed) before the error goes on, and nothing is kept for that batch size."""
        cudart = self._cudart
        context = self._new_context(shared_scratch=True)
        self._enqueue(context, shape)  # lets TensorRT finish its deferred set-up before capture
        check(
            cudart.cudaStreamBeginCapture(self.stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal),
            "cudaStreamBeginCapture",
        )
        try:
            self._enqueue(context, shape)
        except BaseException:
            _, partial = cudart.cudaStreamEndCapture(self.stream)
            if partial is not None and int(partial):
                cudart.cudaGraphDestroy(partial)
            raise
        graph = check(cudart.cudaStreamEndCapture(self.stream), "cudaStreamEndCapture")
        try:
            instance = check(cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            cudart.cudaGraphDestroy(graph)  # the instantiated graph does not need it
        self._contexts[shape[0]], self._graphs[shape[0]] = context, instance

    def infer_impl(self, images: np.ndarray) -> dict[str, np.ndarray]:
        batch = len(images)
        smallest, largest = self.batch_range
        if not smallest <= batch <= largest:
            raise AibError(f"engine {self.path}: batch {batch} is outside the profile's {smallest} to {largest}")
        self.buffers[INPUT_NAME][1][:batch] = images
        self._copy(INPUT_NAME, batch, to_device=True)
        self._execute(tuple(images.shape))
        for name in self._output_names:
            self._copy(name, batch, to_device=False)
        check(self._cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return {name: self.buffers[name][1][:batch].copy() for name in self._output_names}

    def deactivate_impl(self) -> None:
        cudart = self._cudart
        for graph in self._graphs.values():
            cudart.cudaGraphExecDestroy(graph)
        if self._scratch is not None:
            cudart.cudaFree(self._scratch)
            self._scratch = None
        for device, host in self.buffers.values():
            cudart.cudaFree(device)
            cudart.cudaFreeHost(host.ctypes.data)
        cudart.cudaStreamDestroy(self.stream)
        self._graphs.clear()
        self._contexts.clear()
        self.context = self.engine = self.runtime = None

"""TensorRT and cuda-python, imported only when an engine is built or opened.

NOT EXECUTED against a GPU in this project's CI or on its development machines
(no TensorRT builder and no GPU there): written against NVIDIA's documented
Python APIs of TensorRT 10 and 11. The lean runtime's module does import here,
and tests check the names the runner uses on it.
"""

from __future__ import annotations

import importlib

from ...errors import AibError

INSTALL_HINT = "install `tensorrt` and `cuda-python` on a machine with an NVIDIA GPU and driver"
# The full library first; an edge install may have only the lean runtime (`tensorrt-lean`), whose module
# is `tensorrt_lean`, or its bare bindings wheel, `tensorrt_lean_bindings`.
RUNTIME_MODULES = ("tensorrt", "tensorrt_lean", "tensorrt_lean_bindings")


def import_tensorrt():
    """The full TensorRT library, which the builder needs."""
    try:
        import tensorrt
    except ImportError:
        raise AibError(f"TensorRT is not installed here; {INSTALL_HINT}") from None
    return tensorrt


def import_runtime():
    """TensorRT for running engines: the full library, else the lean runtime (version-compatible engines only)."""
    for name in RUNTIME_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise AibError(f"TensorRT is not installed here; {INSTALL_HINT} (or `tensorrt-lean` for version-compatible engines)")


def is_lean(trt) -> bool:
    return trt.__name__.split(".")[0] != "tensorrt"


def import_cudart():
    """cuda-python's runtime bindings (`cuda.bindings.runtime` since 12.6, `cuda.cudart` before)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise AibError(f"cuda-python is not installed here; {INSTALL_HINT}") from None
    return cudart


def check(result: tuple, what: str):
    """cuda-python returns (error, value...); raise on an error, return the value(s)."""
    error, *values = result
    if int(error) != 0:
        raise AibError(f"CUDA: {what} failed with error {int(error)}")
    return values[0] if len(values) == 1 else values


def current_gpu(cudart) -> tuple[str, str]:
    device = check(cudart.cudaGetDevice(), "cudaGetDevice")
    properties = check(cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = properties.name.decode() if isinstance(properties.name, bytes) else str(properties.name)
    return name.rstrip("\x00"), f"{properties.major}.{properties.minor}"

"""The machine and libraries a benchmark ran on, so figures are compared only where they match."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def environment() -> dict:
    """Hardware and library versions, so figures can be compared only where they match."""
    info = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(), "cpu": cpu_model()}
    for module in ("onnxruntime", "torch", "numpy", "tensorrt"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            pass
    if "onnxruntime" in info:
        info["onnxruntime_providers"] = __import__("onnxruntime").get_available_providers()
    if "torch" in info and __import__("torch").cuda.is_available():
        info["gpu"] = __import__("torch").cuda.get_device_name(0)
    return info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()

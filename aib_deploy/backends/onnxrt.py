"""ONNX Runtime backend: CPU by default, CUDA or TensorRT execution providers when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..card.model_card import ModelCard, card_from_metadata
from ..contract import INPUT_NAME, output_names
from ..errors import AibError
from .base import Runner

DEVICE_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
DEVICES = ("auto", *DEVICE_PROVIDERS)
PROVIDER_DEVICES = {providers[0]: device for device, providers in DEVICE_PROVIDERS.items()}


def choose_providers(device: str, available: list[str]) -> list[str]:
    """Providers for `device`; `auto` takes the fastest one this onnxruntime build has."""
    if device == "auto":
        for candidate in ("tensorrt", "cuda"):
            if DEVICE_PROVIDERS[candidate][0] in available:
                return [p for p in DEVICE_PROVIDERS[candidate] if p in available]
        return DEVICE_PROVIDERS["cpu"]
    if device not in DEVICE_PROVIDERS:
        raise AibError(f"--device: expected one of {', '.join(DEVICES)}, got {device!r}")
    wanted = DEVICE_PROVIDERS[device][0]
    if wanted not in available:
        raise AibError(f"--device {device}: this onnxruntime has no {wanted} (available: {', '.join(available)})")
    return [p for p in DEVICE_PROVIDERS[device] if p in available]


class OnnxrtRunner(Runner):
    """`spinning` keeps idle intra-op threads busy-waiting: about 20 % more frames/s for a caller
    that runs back to back, but a server shares its cores with gRPC threads and turns it off."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        spinning: bool = True,
    ) -> None:
        super().__init__()
        self.spinning = spinning
        self.path = Path(path)
        self.device = device
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads
        self.session = None
        self.providers: list[str] = []

    @property
    def label(self) -> str:
        device = PROVIDER_DEVICES.get(self.providers[0], self.providers[0]) if self.providers else self.device
        return f"{self.name}-{device} {self.card.precision_label}" if self.is_active else f"{self.name}-{device}"

    @property
    def on_gpu(self) -> bool:
        return bool(self.providers) and self.providers[0] != DEVICE_PROVIDERS["cpu"][0]

    def activate_impl(self) -> ModelCard:
        import onnxruntime

        if not self.path.is_file():
            raise AibError(f"model {self.path}: file not found")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        if self.intra_op_threads:
            options.intra_op_num_threads = self.intra_op_threads
        if self.inter_op_threads:
            options.inter_op_num_threads = self.inter_op_threads
        if not self.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = choose_providers(self.device, onnxruntime.get_available_providers())
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph/... types
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise AibError(f"model {self.path}: ONNX Runtime cannot load it: {reason}") from None
        self.providers = self.session.get_providers()
        card = card_from_metadata(self.session.get_modelmeta().custom_metadata_map, source=f"model {self.path}")
        names = [output.name for output in self.session.get_outputs()]
        expected = list(output_names(card.architecture.quantized))
        if names != expected:
            raise AibError(f"model {self.path}: outputs {names} do not follow the contract {expected}")
        self._output_names = names
        return card

    def infer_impl(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(self._output_names, {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})
        return dict(zip(self._output_names, outputs))

    def deactivate_impl(self) -> None:
        self.session = None

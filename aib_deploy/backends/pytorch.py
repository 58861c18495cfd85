"""PyTorch backend: run a checkpoint directly, without exporting it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..card.model_card import ModelCard
from ..errors import AibError
from .base import Runner


class TorchRunner(Runner):
    """The deterministic path of a checkpoint, in eager mode; `auto` takes CUDA when present."""

    name = "pytorch"

    @property
    def label(self) -> str:
        return f"{self.name}-{self.device} fp32"

    def __init__(self, checkpoint: str | Path, weights: str = "net", dataset: str | None = None,
                 labels: tuple[str, ...] | None = None, device: str = "auto",
                 threads: int | None = None) -> None:  # fmt: skip
        super().__init__()
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
        loaded = load_model(self.path, self.weights)
        self.model = loaded.model.to(self.device)
        return card_from_checkpoint(loaded, dataset=self.dataset, labels=self.labels)

    def infer_impl(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            return self.model.deterministic(torch.from_numpy(np.ascontiguousarray(images)).to(self.device)).as_arrays()

    def deactivate_impl(self) -> None:
        self.model = None

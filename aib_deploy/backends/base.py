"""The runner interface shared by every backend (after Polygraphy's BaseRunner)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..card.model_card import ModelCard
from ..contract import INPUT_NAME


class Runner(ABC):
    """Executes a model on normalized NCHW float32 batches.

    `activate` loads whatever is heavy; `infer` returns the ONNX contract's
    outputs by name; `deactivate` frees it. Usable as a context manager.
    """

    name = "runner"

    def __init__(self) -> None:
        self.is_active = False
        self._card: ModelCard | None = None
        self.path: Path | None = None  # the file it runs; subclasses set it

    @property
    def label(self) -> str:
        """Backend, device and precision (e.g. `onnxruntime-cpu fp32`), for benchmark tables."""
        return self.name

    @property
    def on_gpu(self) -> bool:
        """Whether the model runs on a GPU (a server's instance kind); read after activate()."""
        return False

    @property
    def precision(self) -> str:
        """fp32, fp16 or int8: what the model runs in (names the model on a server)."""
        return self.card.precision

    @property
    def card(self) -> ModelCard:
        if self._card is None:
            raise RuntimeError(f"{self.name}: activate() the runner before reading its model card")
        return self._card

    def activate(self) -> None:
        if not self.is_active:
            self._card = self.activate_impl()
            self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self.deactivate_impl()
            self.is_active = False

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if not self.is_active:
            raise RuntimeError(f"{self.name}: activate() the runner before infer()")
        return self.infer_impl(images)

    @property
    def max_batch(self) -> int:
        """The largest batch this model takes: its card's (engines: their profile's)."""
        return self.card.batch_limit

    def get_input_metadata(self) -> dict[str, tuple[str, tuple]]:
        """Input name -> (dtype, shape with None for the dynamic batch)."""
        size = self.card.input_size
        return {INPUT_NAME: ("float32", (None, 3, size, size))}

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.deactivate()

    @abstractmethod
    def activate_impl(self) -> ModelCard: ...

    @abstractmethod
    def infer_impl(self, images: np.ndarray) -> dict[str, np.ndarray]: ...

    def deactivate_impl(self) -> None:  # noqa: B027 - an optional hook: most runners have nothing to free
        """Drop references to what activate_impl loaded."""

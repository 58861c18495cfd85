"""What `aib export onnx` takes besides the checkpoint, apart from the exporter so that the CLI reads its
defaults without importing torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..card.model_card import WEIGHT_CHOICES
from ..contract import DEFAULT_MAX_BATCH, DEFAULT_OPSET


@dataclass(frozen=True)
class OnnxExportOptions:
    """What `aib export onnx` takes besides the checkpoint: the card's presets and overrides, the graph's opset
    and the batch the card advertises. `extra` goes into the card as it is (the demo's measured figures)."""

    weights: str = WEIGHT_CHOICES[0]
    dataset: str | None = None
    labels: tuple[str, ...] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    opset: int = DEFAULT_OPSET
    max_batch: int = DEFAULT_MAX_BATCH
    extra: dict = field(default_factory=dict)

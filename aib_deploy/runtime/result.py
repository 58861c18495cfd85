"""What the predictor returns per image, the same for every backend."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ClassScore:
    class_index: int
    label: str
    score: float


@dataclass
class Prediction:
    """One image's result; `error` is set (and the rest empty) when that frame could not be used."""

    top_k: list[ClassScore] = field(default_factory=list)
    attention: np.ndarray | None = None  # att_dim x att_dim float32, anchor values for quantized models
    anchor_index: np.ndarray | None = None  # att_dim x att_dim uint8 (int32 past 256 anchors), quantized only
    anchors: tuple[float, ...] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict:
        """JSON-ready form (attention as nested lists) for the JSON-lines outputs."""
        return {
            "top_k": [{"class_index": c.class_index, "label": c.label, "score": round(c.score, 6)} for c in self.top_k],
            "attention": None if self.attention is None else np.round(self.attention, 6).tolist(),
            "anchor_index": None if self.anchor_index is None else self.anchor_index.tolist(),
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "error": self.error,
        }

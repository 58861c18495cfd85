"""What the predictor returns per image, the same for every backend, and its one JSON form.

`aib predict`, `aib stream`, `aib demo` and the Python API write the same JSON lines, described
by `aib_deploy/data/result.schema.json`: a `model` record first (architecture, labels and the
anchor table, once), then one `frame` record per image. Attention values and scores are float32
written exactly (no rounding); anchor indices are integer lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..card.model_card import ModelCard

SCHEMA_FILE = "result.schema.json"  # in aib_deploy/data
SCHEMA_VERSION = 1


def index_dtype(anchors: int) -> np.dtype:
    """The type of a model's anchor indices: uint8 while every index fits, else int32 (little-endian)."""
    return np.dtype(np.uint8) if anchors <= 256 else np.dtype("<i4")


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
    logits: np.ndarray | None = None  # num_classes float32, the network's raw scores (KServe's `logits` output)
    timings_ms: dict[str, float] = field(default_factory=dict)
    batch_size: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self, source: str = "", frame_index: int = 0) -> dict:
        """The schema's `frame` record (anchors are in the `model` record, once)."""
        return {
            "kind": "frame",
            "source": source,
            "frame_index": frame_index,
            "top_k": [{"class_index": c.class_index, "label": c.label, "score": float(np.float32(c.score))} for c in self.top_k],
            "attention": None if self.attention is None else np.asarray(self.attention, np.float32).tolist(),
            "anchor_index": None if self.anchor_index is None else np.asarray(self.anchor_index).astype(int).tolist(),
            "timings_ms": {name: float(value) for name, value in self.timings_ms.items()},
            "batch_size": int(self.batch_size),
            "error": self.error,
        }


def model_record(card: ModelCard, backend: str) -> dict:
    """The schema's `model` record: what every frame record of the file refers to."""
    return {
        "kind": "model",
        "schema_version": SCHEMA_VERSION,
        "architecture": card.architecture.name,
        "backend": backend,
        "labels": list(card.labels),
        "anchors": None if card.anchors is None else [float(np.float32(a)) for a in card.anchors],
        "input_size": card.input_size,
        "att_dim": card.att_dim,
        "aib_deploy_version": card.aib_deploy_version,
    }

"""One comparison of AIB outputs between backends, with explicit tolerances, on arrays alone.

Used by `aib export onnx` (ONNX Runtime against PyTorch), by `aib bench`, by the
tests (against the paper code's reference outputs) and, as agreement rates, by
`aib_deploy.runtime.compare`, which runs two models on the same frames for
`aib compare`, `aib eval --compare` and the INT8 and fp16 exports; so "parity"
means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerances:
    """Logits: atol = logits_relative * max|reference| + logits_absolute.

    Anchor indices must agree exactly except where the attention mean lies
    within `midpoint_margin` of the midpoint between its two nearest anchors.
    """

    logits_relative: float = 1e-4
    logits_absolute: float = 1e-5
    attention: float = 1e-5
    midpoint_margin: float = 1e-5


@dataclass(frozen=True)
class Comparison:
    logits_max_diff: float
    logits_tolerance: float
    top1_agreement: float
    attention_max_diff: float
    index_agreement: float | None
    index_mismatches: int
    tolerances: Tolerances

    @property
    def passed(self) -> bool:
        return (
            self.logits_max_diff <= self.logits_tolerance
            and self.attention_max_diff <= self.tolerances.attention
            and self.index_mismatches == 0
        )

    def summary(self) -> str:
        parts = [
            f"max|logit diff| {self.logits_max_diff:.3g} (tolerance {self.logits_tolerance:.3g})",
            f"top-1 agreement {self.top1_agreement:.2%}",
            f"max|attention diff| {self.attention_max_diff:.3g} (tolerance {self.tolerances.attention:.3g})",
        ]
        if self.index_agreement is not None:
            parts.append(f"attention-index agreement {self.index_agreement:.4%} ({self.index_mismatches} off a midpoint)")
        return "; ".join(parts)


def near_midpoint(attention_mean: np.ndarray, anchors: np.ndarray, margin: float) -> np.ndarray:
    """True where a value is within `margin` of the midpoint of its two nearest anchors."""
    distance = np.sort(np.abs(attention_mean[..., None] - np.asarray(anchors, dtype=np.float64)), axis=-1)
    if distance.shape[-1] < 2:
        return np.zeros(attention_mean.shape, dtype=bool)
    return (distance[..., 1] - distance[..., 0]) / 2 <= margin


def compare_outputs(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    tolerances: Tolerances = Tolerances(),
    attention_mean: np.ndarray | None = None,
    anchors: np.ndarray | None = None,
) -> Comparison:
    """Compare `logits`, `attention` and, when both have it, `attention_index`.

    `attention_mean` and `anchors` (of the reference) enable the midpoint
    exemption for quantized models; positions it exempts are also left out of
    the attention difference, since a flipped anchor moves the value a whole step.
    """
    ref_logits = np.asarray(reference["logits"], dtype=np.float64)
    cand_logits = np.asarray(candidate["logits"], dtype=np.float64)
    if ref_logits.shape != cand_logits.shape:
        raise ValueError(f"logits shapes differ: {ref_logits.shape} vs {cand_logits.shape}")
    ref_attention = np.asarray(reference["attention"], dtype=np.float64).reshape(ref_logits.shape[0], -1)
    cand_attention = np.asarray(candidate["attention"], dtype=np.float64).reshape(ref_logits.shape[0], -1)
    exempt = np.zeros(ref_attention.shape, dtype=bool)
    index_agreement = None
    index_mismatches = 0
    if "attention_index" in reference and "attention_index" in candidate:
        ref_index = np.asarray(reference["attention_index"]).reshape(exempt.shape)
        cand_index = np.asarray(candidate["attention_index"]).reshape(exempt.shape)
        if attention_mean is not None and anchors is not None:
            exempt = near_midpoint(np.asarray(attention_mean).reshape(exempt.shape), anchors, tolerances.midpoint_margin)
        equal = ref_index == cand_index
        index_agreement = float(equal.mean())
        index_mismatches = int((~equal & ~exempt).sum())
    attention_diff = np.abs(ref_attention - cand_attention)[~exempt]
    return Comparison(
        logits_max_diff=float(np.abs(ref_logits - cand_logits).max(initial=0.0)),
        logits_tolerance=tolerances.logits_relative * float(np.abs(ref_logits).max(initial=0.0)) + tolerances.logits_absolute,
        top1_agreement=float((ref_logits.argmax(-1) == cand_logits.argmax(-1)).mean()) if ref_logits.size else 1.0,
        attention_max_diff=float(attention_diff.max(initial=0.0)),
        index_agreement=index_agreement,
        index_mismatches=index_mismatches,
        tolerances=tolerances,
    )

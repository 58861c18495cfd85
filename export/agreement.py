"""How often a reduced-precision file says what its float32 model says, and writing that into its card.

Shared by `aib export int8` and `aib export fp16`; the numbers come from the
project's one comparison (`compare_outputs`), on held-out frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backends.base import Runner
from ..card.model_card import ModelCard
from ..compare import compare_outputs
from ..contract import MODEL_CARD_KEY
from ..errors import AibError

CHECK_BATCH = 64


@dataclass
class Agreement:
    """How often the reduced-precision model says what the float32 model says, on held-out frames."""

    frames: int
    top1: float
    index_exact: float | None = None
    index_within_one_step: float | None = None
    attention_max_abs_diff: float = 0.0
    logits_max_abs_diff: float = 0.0

    def describe(self) -> str:
        text = f"{self.frames} held-out frames: top-1 agreement {self.top1:.2%}"
        if self.index_exact is not None:
            text += (f", attention-index agreement {self.index_exact:.2%} exact and "
                     f"{self.index_within_one_step:.2%} within one anchor step")  # fmt: skip
        return text + f", max|attention diff| {self.attention_max_abs_diff:.3g}, max|logit diff| {self.logits_max_abs_diff:.3g}"


def run_all(runner: Runner, images: np.ndarray, progress=None) -> dict[str, np.ndarray]:
    """Every image through the runner in batches it takes; `progress` (a `Progress`) counts the frames."""
    step = min(CHECK_BATCH, runner.max_batch)
    parts = []
    for start in range(0, len(images), step):
        parts.append(runner.infer(images[start : start + step]))
        if progress is not None:
            progress.update(len(images[start : start + step]))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def measure_agreement(reference_runner: Runner, candidate_runner: Runner, images: np.ndarray, card: ModelCard,
                      progress=None) -> Agreement:  # fmt: skip
    """The project's one comparison, without the midpoint exemption: the flips are what is counted here."""
    return agreement_of(run_all(reference_runner, images, progress), run_all(candidate_runner, images, progress), card)


def agreement_of(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], card: ModelCard) -> Agreement:
    """The agreement of two models' outputs on the same frames."""
    comparison = compare_outputs(reference, candidate)
    agreement = Agreement(frames=len(reference["logits"]), top1=comparison.top1_agreement, index_exact=comparison.index_agreement,
                          attention_max_abs_diff=comparison.attention_max_diff,
                          logits_max_abs_diff=comparison.logits_max_diff)  # fmt: skip
    if card.anchors is not None:
        rank = np.argsort(np.argsort(np.asarray(card.anchors)))  # an anchor's place in value order
        steps = np.abs(rank[reference["attention_index"]] - rank[candidate["attention_index"]])
        agreement.index_within_one_step = float((steps <= 1).mean())
    return agreement


def write_card(path: Path, card: ModelCard) -> None:
    import onnx

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == MODEL_CARD_KEY:
            prop.value = card.to_json()
            break
    else:
        model.metadata_props.add(key=MODEL_CARD_KEY, value=card.to_json())
    onnx.save(model, str(path))


@dataclass(frozen=True)
class Gate:
    """The least agreement a reduced-precision file must reach (`--fail-under top1=0.99,index=0.95`)."""

    top1: float = 0.99
    index: float = 0.95

    @classmethod
    def parse(cls, text: str) -> "Gate":
        values = {}
        for part in filter(None, text.split(",")):
            key, _, value = part.partition("=")
            try:
                share = float(value)
            except ValueError:
                share = -1.0
            if key.strip() not in ("top1", "index") or not 0 <= share <= 1:
                raise AibError(f"--fail-under: expected KEY=SHARE pairs with keys top1 and index and shares in [0, 1], "
                               f"got {part!r}")  # fmt: skip
            values[key.strip()] = share
        return cls(**values)

    def describe(self) -> str:
        return f"top1={self.top1:g},index={self.index:g}"

    def failures(self, agreement: Agreement) -> list[str]:
        """What falls below the gate, one phrase each; empty when the file passes."""
        failed = []
        if agreement.top1 < self.top1:
            failed.append(f"top-1 agreement {agreement.top1:.2%} < {self.top1:.2%}")
        if agreement.index_exact is not None and agreement.index_exact < self.index:
            failed.append(f"attention-index agreement {agreement.index_exact:.2%} < {self.index:.2%}")
        return failed

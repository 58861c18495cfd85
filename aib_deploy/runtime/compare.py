"""Comparing two models on the same frames: how often the candidate says what the reference says.

The one home of model comparison, as Polygraphy's `Comparator.run` runs its runners on one input:
`aib compare`, `aib eval --compare` and the agreement checks of `aib export int8` and `fp16` all
run their two models with `measure_agreement` (or score their outputs with `agreement_of`) and
judge the figures with one `Gate`. The figures come from the project's one output comparison
(`aib_deploy.compare.compare_outputs`), without its midpoint exemption: the flips are what is
counted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends.base import Runner
from ..card.model_card import ModelCard
from ..compare import compare_outputs
from ..errors import AibError
from ..progress import Progress
from .loader import RunnerOptions, open_runner
from .preprocess import Preprocessor

CHECK_BATCH = 64  # frames per call, within each model's own batch limit
COMPARABLE = ("architecture", "input_size", "mean", "std")  # what two models must share to see the same frames


@dataclass
class Agreement:
    """How often the candidate model says what the reference model says, on the same frames."""

    frames: int
    top1: float
    index_exact: float | None = None
    index_within_one_step: float | None = None
    attention_max_abs_diff: float = 0.0
    logits_max_abs_diff: float = 0.0
    # The candidate's own attention cells that hold exactly the float32 anchor its index names: the
    # contract says all of them (1.0), whatever the precision of the rest of the model.
    attention_on_anchors: float | None = None

    def describe(self) -> str:
        text = f"{self.frames} held-out frame{'' if self.frames == 1 else 's'}: top-1 agreement {self.top1:.2%}"
        if self.index_exact is not None:
            text += (
                f", attention-index agreement {self.index_exact:.2%} exact and "
                f"{self.index_within_one_step:.2%} within one anchor step"
            )
        if self.attention_on_anchors is not None:
            text += f", attention values equal to their float32 anchor {self.attention_on_anchors:.2%}"
        return text + f", max|attention diff| {self.attention_max_abs_diff:.3g}, max|logit diff| {self.logits_max_abs_diff:.3g}"


def agreement_of(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], anchors: Sequence[float] | None = None
) -> Agreement:
    """The agreement of two models' outputs on the same frames; `anchors` (the reference's) give the
    share of attention indices at most one anchor step apart, neighbours in value order."""
    comparison = compare_outputs(reference, candidate)
    agreement = Agreement(
        frames=len(reference["logits"]),
        top1=comparison.top1_agreement,
        index_exact=comparison.index_agreement,
        attention_max_abs_diff=comparison.attention_max_diff,
        logits_max_abs_diff=comparison.logits_max_diff,
    )
    if anchors is not None and comparison.index_agreement is not None:
        rank = np.argsort(np.argsort(np.asarray(anchors)))  # an anchor's place in value order
        steps = np.abs(rank[reference["attention_index"]] - rank[candidate["attention_index"]])
        agreement.index_within_one_step = float((steps <= 1).mean())
        table = np.asarray(anchors, dtype=np.float32)
        values, indices = np.ravel(candidate["attention"]), np.ravel(candidate["attention_index"])
        agreement.attention_on_anchors = float((values == table[indices]).mean())
    return agreement


@dataclass(frozen=True)
class Gate:
    """The least agreement a candidate must reach (`--fail-under top1=0.99,index=0.95`)."""

    top1: float = 0.99
    index: float = 0.95

    @classmethod
    def parse(cls, text: str) -> Gate:
        values = {}
        if not text.strip(",").strip():
            raise AibError(f"--fail-under: expected KEY=SHARE pairs such as top1=0.99,index=0.95, got {text!r}")
        for part in text.split(","):
            key, _, value = part.partition("=")
            if key.strip() in values:
                raise AibError(f"--fail-under: {key.strip()} given twice in {text!r}")
            try:
                share = float(value)
            except ValueError:
                share = -1.0
            if key.strip() not in ("top1", "index") or not 0 <= share <= 1:
                raise AibError(
                    f"--fail-under: expected KEY=SHARE pairs with keys top1 and index and shares in [0, 1], got {part!r}"
                )
            values[key.strip()] = share
        return cls(**values)

    def describe(self) -> str:
        return f"top1={self.top1:g},index={self.index:g}"

    def failures(self, agreement: Agreement) -> list[str]:
        """What falls below the gate, one phrase each; empty when the candidate passes."""
        failed = []
        if agreement.top1 < self.top1:
            failed.append(f"top-1 agreement {agreement.top1:.2%} < {self.top1:.2%}")
        if agreement.index_exact is not None and agreement.index_exact < self.index:
            failed.append(f"attention-index agreement {agreement.index_exact:.2%} < {self.index:.2%}")
        if agreement.attention_on_anchors is not None and agreement.attention_on_anchors < 1:
            failed.append(
                f"attention values equal to their float32 anchor {agreement.attention_on_anchors:.2%} < 100% (the contract)"
            )
        return failed


def run_all(runner: Runner, images: np.ndarray, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Every image (preprocessed NCHW) through the runner in batches it takes; `progress` counts the frames."""
    step = min(CHECK_BATCH, runner.max_batch)
    parts = []
    for start in range(0, len(images), step):
        parts.append(runner.infer(images[start : start + step]))
        if progress is not None:
            progress.update(len(images[start : start + step]))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def measure_agreement(
    reference: Runner, candidate: Runner, images: np.ndarray, card: ModelCard, progress: Progress | None = None
) -> Agreement:
    """Both runners on the same preprocessed images; `card` (the reference's) gives the anchors."""
    return agreement_of(run_all(reference, images, progress), run_all(candidate, images, progress), card.anchors)


def check_comparable(reference: Path, candidate: Path, reference_card: ModelCard, candidate_card: ModelCard) -> None:
    """Refuse two models that would not see the same frames the same way."""
    differs = [field for field in COMPARABLE if getattr(reference_card, field) != getattr(candidate_card, field)]
    if differs:
        raise AibError(f"{candidate}: not comparable with {reference}: their {', '.join(differs)} differ")


@dataclass(frozen=True)
class CompareOptions:
    """What `compare_models` takes besides the two models and the frames; `aib compare` builds it."""

    fail_under: Gate = field(default_factory=Gate)
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    progress: bool = True


def compare_models(
    reference: Path, candidate: Path, frames: Sequence[np.ndarray], options: CompareOptions = CompareOptions()
) -> tuple[Agreement, list[str]]:
    """Agreement of CANDIDATE with REFERENCE on the same frames (decoded images, preprocessed with the
    reference's card), and what falls below the gate.

    Any two files the runtime opens (float32, fp16 or INT8 ONNX, a checkpoint, an engine) of one
    architecture, input size, mean and std."""
    with open_runner(reference, options.runner) as first, open_runner(candidate, options.runner) as second:
        card = first.card
        check_comparable(reference, candidate, card, second.card)
        images = Preprocessor(card.input_size, card.mean, card.std).batch(frames)
        with Progress(2 * len(images), what="frames", enabled=options.progress) as progress:
            agreement = measure_agreement(first, second, images, card, progress)
    return agreement, options.fail_under.failures(agreement)

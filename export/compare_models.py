"""`aib compare A B`: any two models of one architecture on the same frames, as Polygraphy's
`run --onnxrt --trt` compares backends, for the outputs that matter here: the class and the anchors.

A and B can be any files the runtime opens (float32, fp16 or INT8 ONNX, a checkpoint, an engine);
the frames go through A's preprocessing, so both must share its input size, mean and std.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..card.model_card import ModelCard
from ..errors import AibError
from ..progress import Progress
from ..runtime.loader import RunnerOptions, open_runner
from ..runtime.preprocess import Preprocessor
from .agreement import Agreement, Gate, measure_agreement
from .calibration import SYNTHETIC, check_frames


@dataclass(frozen=True)
class CompareOptions:
    """What `aib compare` takes besides the two models; `compare_models` takes the same object."""

    frames: str = SYNTHETIC
    count: int = 256
    fail_under: Gate = Gate()
    runner: RunnerOptions = RunnerOptions()
    progress: bool = True


COMPARABLE = ("architecture", "input_size", "mean", "std")  # what two models must share to see the same frames


def check_comparable(reference: Path, candidate: Path, reference_card: ModelCard, candidate_card: ModelCard) -> None:
    differs = [field for field in COMPARABLE if getattr(reference_card, field) != getattr(candidate_card, field)]
    if differs:
        raise AibError(f"{candidate}: not comparable with {reference}: their {', '.join(differs)} differ")


def compare_models(reference: Path, candidate: Path, options: CompareOptions = CompareOptions()) -> tuple[Agreement, list[str]]:
    """Agreement of CANDIDATE with REFERENCE on the same frames, and what falls below the gate."""
    with open_runner(reference, options.runner) as first, open_runner(candidate, options.runner) as second:
        card = first.card
        check_comparable(reference, candidate, card, second.card)
        frames = check_frames(options.frames, options.count)
        images = Preprocessor(card.input_size, card.mean, card.std).batch(frames)
        with Progress(2 * len(images), what="frames", enabled=options.progress) as progress:
            agreement = measure_agreement(first, second, images, card, progress)
    return agreement, options.fail_under.failures(agreement)

"""Scoring a model on labelled images: classes, the pointing game, attention mass, per class, and
optionally the paper's stochastic evaluation (checkpoints) or agreement with a second model.

Images are read, predicted and dropped a chunk at a time, so a data set of any size (CUB's 5,794
test images) needs the memory of one chunk; the contact sheet reads its few frames again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..backends.base import Runner
from ..backends.pytorch import TorchRunner
from ..errors import AibError
from ..localization import pointing_shares, score_localization
from ..media.io import read_image
from ..progress import Progress
from ..runtime import Prediction, Predictor, RunnerOptions, load_predictor, open_runner
from ..runtime.compare import agreement_of, check_comparable, run_all
from ..runtime.results_file import ResultsFile
from .datasets import Sample, read_samples

SCHEMA_VERSION = 1  # of eval.json, aib_deploy/data/eval.schema.json
RECORDS_FILE = "eval.jsonl"  # one record per image beside eval.json, in the result schema
TOP5 = 5
STOCHASTIC_SAMPLES = 4  # the paper's num_avg
CHUNK = 64  # images held in memory at once


@dataclass(frozen=True)
class EvalOptions:
    """What `aib eval` takes besides the model and the data; `evaluate` takes the same object."""

    split: str = "test"
    output: Path | None = None
    compare: Path | None = None
    sheet: int = 6  # best and worst frames on the contact sheet
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    progress: bool = True


@dataclass
class Scored:
    sample: Sample
    prediction: Prediction
    size: tuple[int, int]  # the image's height and width


def read_checked(sample: Sample) -> np.ndarray:
    """The sample's image; a box outside it is an error of this sample alone."""
    image = read_image(sample.path)
    if sample.box is not None:
        x0, y0, x1, y1 = sample.box
        if x0 < 0 or y0 < 0 or x1 > image.shape[1] + 1 or y1 > image.shape[0] + 1:
            raise AibError(f"box {sample.box} lies outside the {image.shape[1]}x{image.shape[0]} image")
    return image


class Extras:
    """What is measured beside the predictor, chunk by chunk: the paper's stochastic accuracy (runners that
    can sample, i.e. checkpoints) and the outputs of both models for `--compare`."""

    def __init__(self, predictor: Predictor, other: Runner | None) -> None:
        self.predictor, self.other = predictor, other
        runner = predictor.runner
        self.sampler = runner if isinstance(runner, TorchRunner) else None
        self.stochastic_hits: list[bool] = []
        self.outputs: tuple[list, list] = ([], [])
        if self.sampler is not None:
            self.generator = self.sampler.stochastic_generator(seed=0)

    def add(self, images: list[np.ndarray], truth: list[int]) -> None:
        if self.sampler is None and self.other is None:
            return
        tensors = self.predictor.preprocessor.batch(images)
        if self.sampler is not None:
            logits = self.sampler.infer_stochastic(tensors, STOCHASTIC_SAMPLES, self.generator)["logits"]
            self.stochastic_hits += (logits.argmax(1) == np.asarray(truth)).tolist()
        if self.other is not None:
            self.outputs[0].append(run_all(self.predictor.runner, tensors))
            self.outputs[1].append(run_all(self.other, tensors))

    def report(self, anchors: Sequence[float] | None) -> dict:
        report = {}
        if self.stochastic_hits:
            report["stochastic_top1_num_avg_4"] = float(np.mean(self.stochastic_hits))
        if self.other is not None and self.outputs[0]:
            joined = [{name: np.concatenate([part[name] for part in parts]) for name in parts[0]} for parts in self.outputs]
            report["compare"] = {"other": str(self.other.path), **asdict(agreement_of(*joined, anchors))}
        return report


def write_records(path: Path, scored: list[Scored], card, backend: str) -> None:
    """Every image read, as a frame record of the result schema with its truth (class and box)."""
    with ResultsFile(path, card, backend) as results:
        for index, item in enumerate(scored):
            truth = {"class_index": item.sample.class_index, "box": list(item.sample.box) if item.sample.box else None}
            results.write(item.prediction, item.sample.path.name, index, truth=truth, where=item.sample.where)


def evaluate(model: Path, data: Path, options: EvalOptions = EvalOptions()) -> dict:
    """The report `aib eval` prints and writes to eval.json."""
    scored: list[Scored] = []
    with load_predictor(model, options.runner, top_k=TOP5) as predictor, contextlib.ExitStack() as stack:
        card = predictor.card
        samples, errors = read_samples(data, card.labels, options.split)
        if not samples:
            raise AibError(f"data {data}: no usable images ({len(errors)} bad entries){': ' + errors[0] if errors else ''}")
        other = None
        if options.compare is not None:
            other = stack.enter_context(open_runner(options.compare, options.runner))
            check_comparable(model, options.compare, card, other.card)
        extras = Extras(predictor, other)
        with Progress(len(samples), what="images", enabled=options.progress) as progress:
            for start in range(0, len(samples), CHUNK):
                images, kept = [], []
                for sample in samples[start : start + CHUNK]:
                    try:
                        images.append(read_checked(sample))
                        kept.append(sample)
                    except AibError as error:
                        errors.append(f"{sample.where}: {error}")
                        scored.append(Scored(sample, Prediction(error=str(error)), (0, 0)))
                    progress.update()
                good = []
                for sample, image, prediction in zip(kept, images, predictor.predict(images)):
                    scored.append(Scored(sample, prediction, image.shape[:2]))
                    if prediction.ok:
                        good.append((image, sample.class_index))
                    else:
                        errors.append(f"{sample.where}: {prediction.error}")
                if good:
                    extras.add([image for image, _ in good], [label for _, label in good])
        backend = predictor.backend
        extra_report = extras.report(card.anchors)
    ok = [item for item in scored if item.prediction.ok]
    if not ok:  # nothing to score: an error, before any file is written
        raise AibError(f"data {data}: no usable images ({len(errors)} bad entries){': ' + errors[0] if errors else ''}")
    truth = np.array([item.sample.class_index for item in ok])
    ranked = [[score.class_index for score in item.prediction.top_k] for item in ok]
    report = {
        "schema_version": SCHEMA_VERSION,
        "model": str(model),
        "data": str(data),
        "split": options.split,
        "backend": backend,
        "architecture": card.architecture.name,
        "images": len(ok),
        "errors": errors,
        "top1": float(np.mean([r[0] == t for r, t in zip(ranked, truth)])) if ok else 0.0,
        "top5": float(np.mean([t in r[:TOP5] for r, t in zip(ranked, truth)])) if ok else 0.0,
    }
    boxed = [item for item in ok if item.sample.box is not None]
    if boxed:
        sizes = [item.size for item in boxed]
        maps, boxes = [item.prediction.attention for item in boxed], [item.sample.box for item in boxed]
        report["localization"] = score_localization(maps, boxes, sizes).to_dict()
        shares = pointing_shares(maps, boxes, sizes)
    if card.anchors is not None and ok:
        used = np.unique(np.concatenate([item.prediction.anchor_index.ravel() for item in ok]))
        report["anchors_used"] = {"count": len(used), "of": len(card.anchors), "indices": used.tolist()}
    report["per_class"] = [
        {
            "class_index": int(c),
            "label": card.labels[c],
            "images": int((truth == c).sum()),
            "top1": float(np.mean([r[0] == c for r, t in zip(ranked, truth) if t == c])),
        }
        for c in sorted(set(truth.tolist()))
    ]
    report.update(extra_report)
    if options.output is not None:
        options.output.mkdir(parents=True, exist_ok=True)
        write_records(options.output / RECORDS_FILE, scored, card, backend)
        report["records"] = RECORDS_FILE
        (options.output / "eval.json").write_text(json.dumps(report, indent=1) + "\n")
        if boxed:
            from .sheet import contact_sheet

            contact_sheet(boxed, shares, options.sheet, options.output / "contact_sheet.png", card.labels)
    return report

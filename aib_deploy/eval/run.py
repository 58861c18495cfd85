"""Scoring a model on labelled images: classes, the pointing game, attention mass, per class, and
optionally the paper's stochastic evaluation (checkpoints) or agreement with a second model."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AibError
from ..localization import pointing_shares, score_localization
from ..media.io import read_image
from ..progress import Progress
from ..runtime import Prediction, RunnerOptions, load_predictor
from .datasets import Sample, read_samples

TOP5 = 5
STOCHASTIC_SAMPLES = 4  # the paper's num_avg


@dataclass(frozen=True)
class EvalOptions:
    """What `aib eval` takes besides the model and the data; `evaluate` takes the same object."""

    split: str = "test"
    output: Path | None = None
    compare: Path | None = None
    sheet: int = 6  # best and worst frames on the contact sheet
    runner: RunnerOptions = RunnerOptions()
    progress: bool = True


@dataclass
class Scored:
    sample: Sample
    prediction: Prediction
    image: np.ndarray | None


def predict_all(predictor, samples: list[Sample], progress: Progress) -> tuple[list[Scored], list[str]]:
    """Every readable sample through the predictor; a missing or broken image, or a box outside its image, fails alone."""
    scored, errors = [], []
    for sample in samples:
        try:
            image = read_image(sample.path)
            if sample.box is not None:
                x0, y0, x1, y1 = sample.box
                if x0 < 0 or y0 < 0 or x1 > image.shape[1] + 1 or y1 > image.shape[0] + 1:
                    raise AibError(f"{sample.where}: box {sample.box} lies outside the {image.shape[1]}x{image.shape[0]} image")
        except AibError as error:
            errors.append(f"{sample.where}: {error}" if sample.where not in str(error) else str(error))
            progress.update()
            continue
        scored.append(Scored(sample, predictor.predict_one(image), image))
        progress.update()
    return scored, errors


def stochastic_accuracy(path: Path, scored: list[Scored], options: RunnerOptions) -> float:
    """The paper's evaluation of a checkpoint: logits averaged over num_avg x num_avg samples, seeded."""
    import torch

    from ..backends.pytorch import TorchRunner
    from ..runtime.preprocess import Preprocessor

    with TorchRunner(path, device="cpu", threads=options.threads) as runner:
        card = runner.card
        images = Preprocessor(card.input_size, card.mean, card.std).batch([item.image for item in scored])
        generator = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            logits = runner.model.stochastic(torch.from_numpy(images), STOCHASTIC_SAMPLES, generator).logits
    return float((logits.argmax(1).numpy() == np.array([item.sample.class_index for item in scored])).mean())


def evaluate(model: Path, data: Path, options: EvalOptions = EvalOptions()) -> dict:
    """The report `aib eval` prints and writes to eval.json."""
    with load_predictor(model, options.runner, top_k=TOP5) as predictor:
        card = predictor.card
        samples, errors = read_samples(data, card.labels, options.split)
        if not samples:
            raise AibError(f"data {data}: no usable images ({len(errors)} bad entries){': ' + errors[0] if errors else ''}")
        with Progress(len(samples), what="images", enabled=options.progress) as progress:
            scored, image_errors = predict_all(predictor, samples, progress)
        backend = predictor.backend
    errors += image_errors
    ok = [item for item in scored if item.prediction.ok]
    errors += [f"{item.sample.where}: {item.prediction.error}" for item in scored if not item.prediction.ok]
    truth = np.array([item.sample.class_index for item in ok])
    ranked = [[score.class_index for score in item.prediction.top_k] for item in ok]
    report = {
        "model": str(model), "data": str(data), "split": options.split, "backend": backend,
        "architecture": card.architecture.name, "images": len(ok), "errors": errors,
        "top1": float(np.mean([r[0] == t for r, t in zip(ranked, truth)])) if ok else 0.0,
        "top5": float(np.mean([t in r[:TOP5] for r, t in zip(ranked, truth)])) if ok else 0.0,
    }  # fmt: skip
    boxed = [item for item in ok if item.sample.box is not None]
    if boxed:
        sizes = [item.image.shape[:2] for item in boxed]
        maps, boxes = [item.prediction.attention for item in boxed], [item.sample.box for item in boxed]
        report["localization"] = score_localization(maps, boxes, sizes).to_dict()
        shares = pointing_shares(maps, boxes, sizes)
    if card.anchors is not None and ok:
        used = np.unique(np.concatenate([item.prediction.anchor_index.ravel() for item in ok]))
        report["anchors_used"] = {"count": int(len(used)), "of": len(card.anchors), "indices": used.tolist()}
    report["per_class"] = [
        {"class_index": int(c), "label": card.labels[c], "images": int((truth == c).sum()),
         "top1": float(np.mean([r[0] == c for r, t in zip(ranked, truth) if t == c]))}
        for c in sorted(set(truth.tolist()))
    ]  # fmt: skip
    if backend == "pytorch" and ok:
        report["stochastic_top1_num_avg_4"] = stochastic_accuracy(model, ok, options.runner)
    if options.compare is not None:
        from ..export.agreement import measure_agreement
        from ..runtime import open_runner
        from ..runtime.preprocess import Preprocessor

        with open_runner(model, options.runner) as first, open_runner(options.compare, options.runner) as second:
            images = Preprocessor(card.input_size, card.mean, card.std).batch([item.image for item in ok])
            report["compare"] = {"other": str(options.compare),
                                 **measure_agreement(first, second, images, card).__dict__}  # fmt: skip
    if options.output is not None:
        options.output.mkdir(parents=True, exist_ok=True)
        (options.output / "eval.json").write_text(json.dumps(report, indent=1) + "\n")
        if boxed:
            from .sheet import contact_sheet

            contact_sheet(boxed, shares, options.sheet, options.output / "contact_sheet.png")
    return report

"""One predictor over interchangeable backends: frames in, `Prediction`s out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..backends.base import Runner
from ..card.model_card import ModelCard
from ..errors import AibError
from .preprocess import FrameError, Preprocessor
from .result import ClassScore, Prediction, index_dtype

DEFAULT_TOP_K = 5


def check_batch_limit(requested: int | None, model_max: int, flag: str = "--max-batch") -> int:
    """The batch to run at most: `requested` (default: the model's limit), within the model's limit."""
    if requested is None:
        return model_max
    if not 1 <= requested <= model_max:
        raise AibError(f"{flag}: expected 1 to {model_max} (the model's largest batch), got {requested}")
    return requested


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Normalized:
    """A frame already preprocessed: one row of the ONNX contract's `images` (float32 3 x H x W,
    normalized with the card's mean and std), as Triton and KServe clients send it."""

    tensor: np.ndarray


Frame = np.ndarray | Normalized


class Predictor:
    """Preprocesses frames with the model card, runs them in batches, and
    returns per image: top-k classes, the attention map, its anchor indices and
    per-stage timings. A frame that cannot be used gets a `Prediction` with
    `error` set; the others are unaffected.
    """

    def __init__(self, runner: Runner, top_k: int = DEFAULT_TOP_K, max_batch: int | None = None) -> None:
        if top_k < 1:
            raise AibError(f"--top-k: expected at least 1 class per result, got {top_k}")
        runner.activate()
        self.runner = runner
        self.card: ModelCard = runner.card
        classes = self.card.architecture.num_classes
        if len(self.card.labels) != classes:
            runner.deactivate()
            raise AibError(
                f"model card: {len(self.card.labels)} labels for a model of {classes} classes; "
                "re-export it with matching --labels"
            )
        self.preprocessor = Preprocessor(self.card.input_size, self.card.mean, self.card.std)
        self.top_k = top_k
        self.max_batch = check_batch_limit(max_batch, runner.max_batch)
        self.index_dtype = index_dtype(self.card.architecture.qt_num or 0)

    @property
    def backend(self) -> str:
        return self.runner.name

    def close(self) -> None:
        self.runner.deactivate()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def predict(self, frames: Sequence[Frame], top_k: int | None = None) -> list[Prediction]:
        results: list[Prediction] = []
        for start in range(0, len(frames), self.max_batch):
            results.extend(self._predict_batch(frames[start : start + self.max_batch], top_k or self.top_k))
        return results

    def predict_one(self, frame: Frame, top_k: int | None = None) -> Prediction:
        return self.predict([frame], top_k)[0]

    def _network_input(self, frame: Frame) -> np.ndarray:
        if not isinstance(frame, Normalized):
            return self.preprocessor.frame(frame)
        size = self.card.input_size
        tensor = frame.tensor
        if tensor.dtype != np.float32 or tensor.shape != (3, size, size):
            raise FrameError(f"images: expected float32 [3, {size}, {size}], got {tensor.dtype} {list(tensor.shape)}")
        return tensor

    def _predict_batch(self, frames: Sequence[Frame], top_k: int) -> list[Prediction]:
        results = [Prediction() for _ in frames]
        good, tensors = [], []
        started = time.perf_counter()
        for index, frame in enumerate(frames):
            try:
                tensors.append(self._network_input(frame))
                good.append(index)
            except FrameError as error:
                results[index].error = str(error)
        preprocess_ms = (time.perf_counter() - started) * 1e3 / max(len(frames), 1)
        if not good:
            return results
        started = time.perf_counter()
        outputs = self.runner.infer(np.stack(tensors))
        inference_ms = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        with np.errstate(all="ignore"):  # a broken model's NaN rows are refused below, without numpy's warnings
            probabilities = softmax(outputs["logits"].astype(np.float64))
        k = min(top_k, probabilities.shape[1])
        finite = np.isfinite(outputs["logits"]).all(axis=1) & np.isfinite(outputs["attention"]).reshape(len(good), -1).all(axis=1)
        for row, index in enumerate(good):
            result = results[index]
            if not finite[row]:  # a broken model (NaN weights) answers NaN: an error of the frame, not "nan%"
                result.error = "model output is not finite (NaN or inf): the model is broken"
                continue
            order = np.argsort(-probabilities[row], kind="stable")[:k]
            result.top_k = [ClassScore(int(c), self.card.labels[c], float(probabilities[row, c])) for c in order]
            result.attention = outputs["attention"][row, 0].astype(np.float32)
            result.logits = outputs["logits"][row].astype(np.float32)
            if "attention_index" in outputs:
                result.anchor_index = outputs["attention_index"][row, 0].astype(self.index_dtype)
                result.anchors = self.card.anchors
        postprocess_ms = (time.perf_counter() - started) * 1e3 / len(good)
        for index in good:
            results[index].timings_ms = {"preprocess": preprocess_ms, "inference": inference_ms, "postprocess": postprocess_ms}
            results[index].batch_size = len(good)
        return results

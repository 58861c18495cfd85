"""One predictor over interchangeable backends: frames in, `Prediction`s out."""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import AibError
from ..modelcard import ModelCard
from .preprocess import FrameError, Preprocessor
from .result import ClassScore, Prediction
from .runners.base import Runner

BACKENDS = ("onnxruntime", "pytorch", "tensorrt")
ENGINE_SUFFIXES = (".engine", ".plan")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Predictor:
    """Preprocesses frames with the model card, runs them in batches, and
    returns per image: top-k classes, the attention map, its anchor indices and
    per-stage timings. A frame that cannot be used gets a `Prediction` with
    `error` set; the others are unaffected.
    """

    def __init__(self, runner: Runner, top_k: int = 5, max_batch: int = 32) -> None:
        runner.activate()
        self.runner = runner
        self.card: ModelCard = runner.card
        self.preprocessor = Preprocessor(self.card.input_size, self.card.mean, self.card.std)
        self.top_k = top_k
        self.max_batch = max_batch
        quantized = self.card.architecture.quantized
        self.index_dtype = np.uint8 if quantized and self.card.architecture.qt_num <= 256 else np.int32

    @property
    def backend(self) -> str:
        return self.runner.name

    def close(self) -> None:
        self.runner.deactivate()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def predict(self, frames: Sequence[np.ndarray], top_k: int | None = None) -> list[Prediction]:
        results: list[Prediction] = []
        for start in range(0, len(frames), self.max_batch):
            results.extend(self._predict_batch(frames[start : start + self.max_batch], top_k or self.top_k))
        return results

    def predict_one(self, frame: np.ndarray, top_k: int | None = None) -> Prediction:
        return self.predict([frame], top_k)[0]

    def _predict_batch(self, frames: Sequence[np.ndarray], top_k: int) -> list[Prediction]:
        results = [Prediction() for _ in frames]
        good, tensors = [], []
        started = time.perf_counter()
        for index, frame in enumerate(frames):
            try:
                tensors.append(self.preprocessor.frame(frame))
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
        probabilities = softmax(outputs["logits"].astype(np.float64))
        k = min(top_k, probabilities.shape[1])
        for row, index in enumerate(good):
            order = np.argsort(-probabilities[row], kind="stable")[:k]
            result = results[index]
            result.top_k = [ClassScore(int(c), self.card.labels[c], float(probabilities[row, c])) for c in order]
            result.attention = outputs["attention"][row, 0].astype(np.float32)
            if "attention_index" in outputs:
                result.anchor_index = outputs["attention_index"][row, 0].astype(self.index_dtype)
                result.anchors = self.card.anchors
        postprocess_ms = (time.perf_counter() - started) * 1e3 / len(good)
        for index in good:
            results[index].timings_ms = {
                "preprocess": preprocess_ms,
                "inference": inference_ms,
                "postprocess": postprocess_ms,
                "batch_size": float(len(good)),
            }
        return results


def backend_for(path: Path) -> str:
    if path.suffix in CHECKPOINT_SUFFIXES:
        return "pytorch"
    return "tensorrt" if path.suffix in ENGINE_SUFFIXES else "onnxruntime"


def open_runner(model: str | Path, backend: str | None = None, device: str = "auto", threads: int | None = None,
                weights: str = "net", dataset: str | None = None,
                labels: tuple[str, ...] | None = None, spinning: bool = True) -> Runner:  # fmt: skip
    """A runner for MODEL: `.onnx` files run on ONNX Runtime, checkpoints on PyTorch, engines on TensorRT.
    `spinning` (ONNX Runtime only) lets idle threads busy-wait; servers turn it off."""
    path = Path(model)
    backend = backend or backend_for(path)
    if backend == "onnxruntime":
        from .runners.onnxrt import OnnxrtRunner

        return OnnxrtRunner(path, device=device, intra_op_threads=threads, spinning=spinning)
    if backend == "pytorch":
        from .runners.pytorch import TorchRunner

        return TorchRunner(path, weights=weights, dataset=dataset, labels=labels, device=device, threads=threads)
    if backend == "tensorrt":
        from .runners.tensorrt import TensorrtRunner

        return TensorrtRunner(path)
    raise AibError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")


def load_predictor(model: str | Path, **options) -> Predictor:
    """Open MODEL with `open_runner(**options)` and wrap it in a Predictor."""
    top_k = options.pop("top_k", 5)
    max_batch = options.pop("max_batch", 32)
    return Predictor(open_runner(model, **options), top_k=top_k, max_batch=max_batch)

"""Inference runtime: one `Predictor` over the backends (ONNX Runtime, PyTorch, TensorRT)."""

from .loader import RunnerOptions, load_predictor, open_runner
from .predictor import Normalized, Predictor
from .result import ClassScore, Prediction

__all__ = ["ClassScore", "Normalized", "Prediction", "Predictor", "RunnerOptions", "load_predictor", "open_runner"]

"""Inference runtime: one `Predictor` over ONNX Runtime, PyTorch and (later) TensorRT."""
from .predictor import Predictor, load_predictor, open_runner
from .result import ClassScore, Prediction

__all__ = ["ClassScore", "Prediction", "Predictor", "load_predictor", "open_runner"]

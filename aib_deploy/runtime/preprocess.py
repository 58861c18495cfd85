"""Frames in, network input out: the one preprocessing path every backend and the trainer use.

OpenCV frames are BGR uint8 of any size; grayscale (H x W or H x W x 1) and
BGRA are accepted too. Each frame is resized to the model's input size (area
interpolation when shrinking, linear when enlarging), turned to RGB, scaled
to [0, 1] and normalized with the model card's mean and std.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import AibError


class FrameError(AibError):
    """One frame cannot be used; other frames of the same batch or stream are unaffected."""


def to_bgr(frame: np.ndarray) -> np.ndarray:
    """A uint8 H x W x 3 BGR view of a gray, BGR or BGRA frame."""
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"frame: expected a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise FrameError(f"frame: expected dtype uint8, got {frame.dtype}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise FrameError(f"frame: expected H x W, H x W x 1, x 3 (BGR) or x 4 (BGRA), got shape {frame.shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise FrameError(f"frame: empty image of shape {frame.shape}")
    return frame if frame.shape[2] == 3 else cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)


def resize_to(frame: np.ndarray, size: int) -> np.ndarray:
    height, width = frame.shape[:2]
    if (height, width) == (size, size):
        return frame
    shrinking = height * width > size * size
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class Preprocessor:
    """Normalizes frames for one model card's input size, mean and std."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.size = size
        self.scale = (1.0 / (255.0 * np.asarray(std, dtype=np.float32))).reshape(1, 1, 3)
        self.offset = (np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)).reshape(1, 1, 3)

    def frame(self, frame: np.ndarray) -> np.ndarray:
        """One frame as a 3 x size x size float32 array."""
        rgb = cv2.cvtColor(resize_to(to_bgr(frame), self.size), cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(self.normalize(rgb).transpose(2, 0, 1))

    def normalize(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 pixels (... x H x W x 3, already at the input size) scaled and normalized, float32, channels last."""
        return rgb.astype(np.float32) * self.scale - self.offset

    def batch(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self.frame(frame) for frame in frames])

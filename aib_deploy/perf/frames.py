"""The real frames `aib perf --input-data` sends, read once before the run: an image, a folder or glob of
images as their files' own bytes, or a video's frames JPEG-encoded (as a camera sends them)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import OptionError
from ..media.io import VideoReader, image_files, input_kind, read_image
from .measure import MAX_INPUT_FRAMES

VIDEO_JPEG_QUALITY = 95


@dataclass(frozen=True)
class InputFrame:
    encoded: bytes  # what an encoded-frames request carries
    pixels: np.ndarray  # decoded, three-channel BGR: what an aib.v1 raw-pixels request carries


def input_frames(source: str) -> list[InputFrame]:
    """Up to MAX_INPUT_FRAMES frames of `source`; a file that cannot be read is one line naming it."""
    kind = input_kind(source)
    if kind == "camera":
        raise OptionError(f"--input-data: expected an image, folder, glob or video file, got camera {source}")
    if kind == "video":
        reader = VideoReader(source)
        frames = []
        for pixels in itertools.islice(iter(reader), MAX_INPUT_FRAMES):
            encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, VIDEO_JPEG_QUALITY])[1].tobytes()
            frames.append(InputFrame(encoded, pixels))
        return frames
    paths = [Path(source)] if kind == "image" else [path for _, path in image_files(source)[:MAX_INPUT_FRAMES]]
    return [InputFrame(path.read_bytes(), bgr(read_image(path))) for path in paths]


def bgr(image: np.ndarray) -> np.ndarray:
    """A gray or BGRA image as three-channel BGR, what raw pixels on the wire carry."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image

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

MAX_INPUT_BYTES = 256 * 2**20  # what the requests of real frames may hold together

VIDEO_JPEG_QUALITY = 95


@dataclass(frozen=True)
class InputFrame:
    """One frame as a request carries it: encoded, or (aib.v1 raw pixels) decoded three-channel BGR."""

    encoded: bytes = b""
    pixels: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.encoded) + (self.pixels.nbytes if self.pixels is not None else 0)


def input_frames(source: str, raw: bool) -> list[InputFrame]:
    """Up to MAX_INPUT_FRAMES frames of `source`, as raw pixels or encoded, holding at most MAX_INPUT_BYTES
    (a frame past that is not read); a file that cannot be read is one line naming it."""
    kind = input_kind(source)
    if kind == "camera":
        raise OptionError(f"--input-data: expected an image, folder, glob or video file, got camera {source}")
    if kind == "video":
        decoded = itertools.islice(iter(VideoReader(source)), MAX_INPUT_FRAMES)
        frames = (InputFrame(pixels=pixels) if raw else InputFrame(jpeg(pixels)) for pixels in decoded)
    else:
        paths = [Path(source)] if kind == "image" else [path for _, path in image_files(source)[:MAX_INPUT_FRAMES]]
        frames = (file_frame(path, raw) for path in paths)
    held, kept = 0, []
    for frame in frames:
        if kept and held + frame.size > MAX_INPUT_BYTES:
            break
        held += frame.size
        kept.append(frame)
    return kept


def jpeg(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, VIDEO_JPEG_QUALITY])[1].tobytes()


def file_frame(path: Path, raw: bool) -> InputFrame:
    """An image file: decoded (which also checks it, header first), and kept as pixels or as its own bytes."""
    pixels = bgr(read_image(path))
    return InputFrame(pixels=pixels) if raw else InputFrame(path.read_bytes())


def bgr(image: np.ndarray) -> np.ndarray:
    """A gray or BGRA image as three-channel BGR, what raw pixels on the wire carry."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image

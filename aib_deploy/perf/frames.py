"""The real frames `aib perf --input-data` sends, read once before the run: an image, a folder or glob of
images as their files' own bytes, or a video's frames JPEG-encoded (as a camera sends them)."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..contract import MAX_MESSAGE_BYTES
from ..errors import AibError, OptionError
from ..media.io import VideoReader, image_files, input_kind, read_image
from .measure import MAX_INPUT_FRAMES

MAX_INPUT_BYTES = 256 * 2**20  # what the requests of real frames may hold together
MAX_FRAME_BYTES = MAX_MESSAGE_BYTES - 4096  # one frame's request, with room for its other fields

VIDEO_JPEG_QUALITY = 95


@dataclass(frozen=True)
class InputFrame:
    """One frame as a request carries it: encoded, or (aib.v1 raw pixels) decoded three-channel BGR."""

    name: str  # the file, or the video and the frame's index
    encoded: bytes = b""
    pixels: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.encoded) + (self.pixels.nbytes if self.pixels is not None else 0)


def input_frames(source: str, raw: bool) -> list[InputFrame]:
    """Up to MAX_INPUT_FRAMES frames of `source`, as raw pixels or encoded, holding at most MAX_INPUT_BYTES
    (a frame past that is not read). A frame that cannot be read or sent is skipped with a warning naming
    it; a source with no usable frame is one error line."""
    kind = input_kind(source)
    if kind == "camera":
        raise OptionError(f"--input-data: expected an image, folder, glob or video file, got camera {source}")
    if kind == "video":
        decoded = enumerate(itertools.islice(iter(VideoReader(source)), MAX_INPUT_FRAMES))
        frames = (video_frame(f"{source} frame {index}", pixels, raw) for index, pixels in decoded)
    else:
        paths = [Path(source)] if kind == "image" else [path for _, path in image_files(source)[:MAX_INPUT_FRAMES]]
        frames = (file_frame(path, raw, len(paths) == 1) for path in paths)
    held, kept = 0, []
    for frame in frames:
        if frame is None:
            continue
        if frame.size > MAX_FRAME_BYTES:
            skipped(f"{frame.name}: {frame.size} bytes, over the {MAX_MESSAGE_BYTES // 2**20} MiB a gRPC message may hold")
            continue
        if kept and held + frame.size > MAX_INPUT_BYTES:
            break
        held += frame.size
        kept.append(frame)
    if not kept:
        raise AibError(f"--input-data {source}: no frame could be used (each skipped above)")
    return kept


def skipped(reason: str) -> None:
    """A frame left out of the run, in one warning line: the others still go."""
    print(f"aib: warning: --input-data: skipped {reason}", file=sys.stderr)


def video_frame(name: str, pixels: np.ndarray, raw: bool) -> InputFrame:
    """A decoded video frame, kept as pixels or JPEG-encoded."""
    if raw:
        return InputFrame(name, pixels=pixels)
    return InputFrame(name, cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, VIDEO_JPEG_QUALITY])[1].tobytes())


def file_frame(path: Path, raw: bool, only: bool) -> InputFrame | None:
    """An image file: decoded (which also checks it, header first), and kept as pixels or as its own bytes.
    A file that cannot be read is skipped with a warning, unless it is the only one (then it is the error)."""
    try:
        pixels = bgr(read_image(path))
    except AibError as error:
        if only:
            raise
        skipped(str(error))
        return None
    return InputFrame(str(path), pixels=pixels) if raw else InputFrame(str(path), path.read_bytes())


def bgr(image: np.ndarray) -> np.ndarray:
    """A gray or BGRA image as three-channel BGR, what raw pixels on the wire carry."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image

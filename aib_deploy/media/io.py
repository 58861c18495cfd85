"""Reading images, folders and videos, and writing annotated ones, with OpenCV."""

from __future__ import annotations

import glob
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..contract import MAX_PIXELS
from ..errors import AibError
from .image_size import check_image

# FFmpeg would print its own complaints about a broken file beside our one-line error.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIX = ".mp4"  # what VideoWriter writes (MPEG-4 Part 2, which every OpenCV build can encode)


@dataclass
class InputItem:
    """One image or video frame; `frame` is None and `error` set when it could not be decoded."""

    name: str
    index: int
    frame: np.ndarray | None
    error: str = ""


OPENCV_LOG_PREFIX = re.compile(r"^\[\s*\w+:[^\]]*\]\s*(global\s+)?\S+:\d+\s+\S+\s+")


class NativeStderr:
    """What C libraries write straight to file descriptor 2 while the block runs (libpng prints
    "libpng error: IDAT: CRC error" there), held back so the command's one error line can carry it.
    One block at a time in the process: the descriptor is the process's."""

    _one_at_a_time = threading.Lock()

    def __enter__(self) -> NativeStderr:
        self._one_at_a_time.acquire()
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._file.seek(0)
            self.text = self._file.read().decode("utf-8", errors="replace")
            self._file.close()
        finally:
            self._one_at_a_time.release()


def read_image(path: str | Path) -> np.ndarray:
    """An image as OpenCV decodes it (BGR, BGRA or gray, uint8), or a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise AibError(f"image {path}: file not found")
    data = np.fromfile(path, dtype=np.uint8)
    if not data.size:
        raise AibError(f"image {path}: empty file")
    check_image(data.tobytes(), MAX_PIXELS, what=f"image {path}")
    with NativeStderr() as said:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        reason = said.text.strip().splitlines()[-1] if said.text.strip() else "empty, corrupt or not an image"
        reason = OPENCV_LOG_PREFIX.sub("", reason)  # "[ WARN:0@0.2] global grfmt_png.cpp:793 read_chunk ..." -> "..."
        raise AibError(f"image {path}: cannot decode it ({reason})")
    sys.stderr.write(said.text)  # a decodable image's warnings are passed on
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    return image


GLOB_CHARACTERS = "*?["
CAMERA_FPS = 30.0  # what an annotated camera recording is written at (cameras rarely report their rate)


def input_kind(source: str | Path) -> str:
    """What a source names, as Ultralytics reads sources: `camera` (an index such as 0), `glob`
    (a pattern such as frames/**/*.jpg), `folder` (images in it and its subfolders), `image` or `video`."""
    text = str(source)
    if text.isdigit():
        return "camera"
    path = Path(text)
    if path.is_dir():
        return "folder"
    if not path.exists() and any(character in text for character in GLOB_CHARACTERS):
        return "glob"
    if not path.exists():
        raise AibError(f"input {path}: not found")
    if not path.is_file():  # a FIFO or a device would block the read, or never end
        raise AibError(f"input {path}: not a regular file, a folder or a glob")
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def image_files(source: str | Path) -> list[tuple[str, Path]]:
    """(name, path) of each image a folder (with its subfolders) or a glob names, sorted; names keep subfolders."""
    text = str(source)
    if input_kind(text) == "folder":
        root = Path(text)
        found = [(str(path.relative_to(root)), path) for path in root.rglob("*")]
    else:  # names relative to the pattern's fixed folder, as for a folder
        fixed = text[: min(text.index(character) for character in GLOB_CHARACTERS if character in text)]
        root = Path(os.path.dirname(fixed) or ".")
        found = [(os.path.relpath(name, root), Path(name)) for name in glob.glob(text, recursive=True)]
    # A link to nothing is listed, so it fails by name and is counted, not silently left out.
    listed = [(name, path) for name, path in found if path.is_file() or (path.is_symlink() and not path.exists())]
    images = sorted((name, path) for name, path in listed if path.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise AibError(f"input {source}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


def camera_frames(index: int) -> Iterator[np.ndarray]:
    """Frames of a camera, opened now (so a missing camera is one line here, not an error later)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its own warnings would precede our line
    try:
        capture = cv2.VideoCapture(index)
        opened = capture.isOpened()
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not opened:
        raise AibError(f"camera {index}: cannot open it (no such camera, or in use)")

    def frames() -> Iterator[np.ndarray]:
        try:
            while (read := capture.read())[0]:
                yield read[1]
        finally:
            capture.release()

    return frames()


class VideoReader:
    """Frames of a video file; fails with one line when OpenCV cannot decode it or its frames are too large.

    `decoded` counts the frames read; `missing` says how many of the frames the container
    declares were not, so a file corrupt in the middle is not taken for a short one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise AibError(f"video {self.path}: cannot open it (corrupt, or a format OpenCV cannot decode)")
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 25.0
        declared = self.capture.get(cv2.CAP_PROP_FRAME_COUNT)  # negative or huge where a backend does not know
        self.frame_count = int(declared) if 0 < declared < 2**31 else 0
        width, height = (int(self.capture.get(prop)) for prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > MAX_PIXELS:
            self.capture.release()
            raise AibError(f"video {self.path}: {width}x{height} frames exceed the limit of {MAX_PIXELS} pixels")
        self.decoded = 0

    @property
    def missing(self) -> int:
        """Frames the container declares that could not be decoded (0 when it declares none)."""
        return max(self.frame_count - self.decoded, 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    break
                self.decoded += 1
                yield frame
        finally:
            self.capture.release()
        if self.decoded == 0:
            raise AibError(f"video {self.path}: no frame could be decoded (corrupt or empty)")


def iter_images(source: str | Path) -> Iterator[InputItem]:
    """Items of an image, or of a folder or glob of images where a bad file fails alone (videos: VideoReader)."""
    if input_kind(source) == "image":
        yield InputItem(Path(source).name, 0, read_image(source))
        return
    for index, (name, path) in enumerate(image_files(source)):
        try:
            yield InputItem(name, index, read_image(path))
        except AibError as error:
            yield InputItem(name, index, None, str(error))


class VideoWriter:
    """An MP4 writer that opens on the first frame, so it learns the frame size."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self.writer.isOpened():
                raise AibError(f"video {self.path}: OpenCV cannot write it (check the folder and the .mp4 suffix)")
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()

"""Images for INT8 calibration and for the held-out agreement check, from one source."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np

from ..errors import AibError, OptionError
from ..media.io import VideoReader, input_kind, iter_images
from ..media.synthetic import make_dataset

SYNTHETIC = "synthetic"
SYNTHETIC_SIZE = 96  # drawn as the demo model was trained: larger, then shrunk by preprocessing
SYNTHETIC_SEEDS = {"calibration": 20_000, "held-out": 30_000}


def source_frames(source: str, limit: int) -> list[np.ndarray]:
    """Up to `limit` frames of an image, a folder of images or a video; unreadable images are skipped."""
    path = Path(source)
    kind = input_kind(path)
    if kind == "video":
        return list(islice(VideoReader(path), limit))
    return [item.frame for item in islice(iter_images(path), limit) if item.frame is not None]


def calibration_split(source: str, calibration: int, held_out: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Calibration frames and held-out frames that never overlap.

    `synthetic` draws both sets with different seeds. A file source gives its first
    `calibration` frames to calibration and the next `held_out` to the check; a source
    with fewer frames than both is cut in half.
    """
    if calibration < 1 or held_out < 1:
        raise AibError(f"calibration: counts must be positive, got {calibration} calibration and {held_out} held-out")
    if source == SYNTHETIC:
        images = {
            name: list(make_dataset(count, SYNTHETIC_SIZE, seed)[0])
            for (name, seed), count in zip(SYNTHETIC_SEEDS.items(), (calibration, held_out))
        }
        return images["calibration"], images["held-out"]
    frames = source_frames(source, calibration + held_out)
    if len(frames) < 2:
        raise AibError(f"calibration source {source}: needs at least 2 readable frames, found {len(frames)}")
    cut = calibration if len(frames) > calibration else len(frames) // 2
    return frames[:cut], frames[cut:]


def check_frames(source: str, count: int) -> list[np.ndarray]:
    """Frames for an agreement check alone (no calibration): `synthetic` uses the held-out seed."""
    if count < 1:
        raise OptionError(f"--held-out: expected a positive frame count, got {count}")
    if source == SYNTHETIC:
        return list(make_dataset(count, SYNTHETIC_SIZE, SYNTHETIC_SEEDS["held-out"])[0])
    frames = source_frames(source, count)
    if not frames:
        raise AibError(f"--frames {source}: no readable frames")
    return frames

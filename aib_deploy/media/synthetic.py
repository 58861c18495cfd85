"""Synthetic glyph images and videos with ground truth, drawn with OpenCV only.

No dataset can be downloaded where aib-deploy is built, so the demo model is
trained and measured on these: one glyph of a known class per image, at a
random position, scale (0.3 to 0.6 of the frame side) and rotation, over a
cluttered background of gradients, noise and distractor strokes. Every sample
carries its object box, so attention localization can be scored. Everything
is reproducible from a seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..card.presets import GLYPH_LABELS as GLYPH_CLASSES
from ..errors import AibError

MIN_SCALE, MAX_SCALE = 0.3, 0.6
DISTRACTOR_STROKES = (3, 7)
VIVID_SHARE = 0.5
# Glyphs are drawn on a canvas this many times larger, then shrunk, for smooth edges.
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Box:
    """Pixel box, x0/y0 inclusive, x1/y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # H x W x 3, BGR uint8
    label: int
    box: Box


def _unit_polygon(name: str) -> np.ndarray | None:
    """Glyph outline in [-1, 1] coordinates, or None for glyphs drawn another way."""
    if name == "square":
        return np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])
    if name == "triangle":
        return np.array([[0.0, -0.95], [0.9, 0.75], [-0.9, 0.75]])
    if name == "plus":
        a, b = 0.3, 0.95
        return np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a], [-b, -a], [-a, -a]])
    if name == "star":
        angles = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    if name == "arrow":
        return np.array([[-0.95, -0.25], [0.2, -0.25], [0.2, -0.7], [0.95, 0.0], [0.2, 0.7], [0.2, 0.25], [-0.95, 0.25]])
    return None


def glyph_mask(name: str, side: int, angle: float) -> np.ndarray:
    """A side x side uint8 mask (255 inside) of the glyph, rotated by `angle` degrees."""
    big = side * SUPERSAMPLE
    canvas = np.zeros((big, big), np.uint8)
    center, radius = big / 2, big / 2
    polygon = _unit_polygon(name)
    if polygon is not None:
        rotation = np.deg2rad(angle)
        rot = np.array([[math.cos(rotation), -math.sin(rotation)], [math.sin(rotation), math.cos(rotation)]])
        points = (polygon @ rot.T) * radius + center
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    elif name == "disc":
        cv2.circle(canvas, (int(center), int(center)), int(radius * 0.9), 255, -1, cv2.LINE_AA)
    elif name == "ring":
        cv2.circle(canvas, (int(center), int(center)), int(radius * 0.7), 255, int(radius * 0.35), cv2.LINE_AA)
    elif name == "crescent":
        cv2.circle(canvas, (int(center), int(center)), int(radius * 0.9), 255, -1, cv2.LINE_AA)
        offset = np.deg2rad(angle)
        shifted = (int(center + 0.45 * radius * math.cos(offset)), int(center + 0.45 * radius * math.sin(offset)))
        cv2.circle(canvas, shifted, int(radius * 0.75), 0, -1, cv2.LINE_AA)
    else:
        raise AibError(f"synthetic: unknown glyph {name!r}; expected one of {', '.join(GLYPH_CLASSES)}")
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)


def _bright_color(rng: np.random.Generator) -> np.ndarray:
    return _hsv_color(rng, saturation=(170, 256), value=(190, 256))


def _hsv_color(rng: np.random.Generator, saturation: tuple[int, int], value: tuple[int, int]) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(*saturation), rng.integers(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def cluttered_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A dim gradient with noise and thin distractor strokes (lines and arcs), BGR uint8."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    start, end = rng.uniform(10, 110, 3), rng.uniform(10, 110, 3)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xs * math.cos(direction) + ys * math.sin(direction)) / max(height, width)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = start + ramp[..., None] * (end - start)
    image += rng.normal(0, 10, (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    base_thickness = min(height, width) / 40
    for _ in range(rng.integers(*DISTRACTOR_STROKES, endpoint=True)):
        # Half the strokes are as vivid as the glyphs, so colour alone does not find the object.
        vivid = rng.random() < VIVID_SHARE
        color = tuple(int(c) for c in (_bright_color(rng) if vivid else rng.uniform(60, 230, 3)))
        thickness = max(1, round(base_thickness * rng.uniform(1.0, 2.5)))
        if rng.random() < 0.5:
            p0 = tuple(int(v) for v in rng.uniform(0, [width, height]))
            p1 = tuple(int(v) for v in rng.uniform(0, [width, height]))
            cv2.line(image, p0, p1, color, thickness, cv2.LINE_AA)
        else:
            center = tuple(int(v) for v in rng.uniform(0, [width, height]))
            axes = tuple(int(v) for v in rng.uniform(0.1, 0.4, 2) * min(height, width))
            arc_start = rng.uniform(0, 360)
            cv2.ellipse(image, center, axes, 0, arc_start, arc_start + rng.uniform(40, 160), color, thickness, cv2.LINE_AA)
    return image


def paste_glyph(image: np.ndarray, label: int, center: tuple[float, float], side: int, angle: float,
                color: np.ndarray) -> Box:  # fmt: skip
    """Draw glyph `label` onto `image` in place, clipped to the frame; return its tight box."""
    height, width = image.shape[:2]
    mask = glyph_mask(GLYPH_CLASSES[label], side, angle).astype(np.float32) / 255
    x0, y0 = round(center[0] - side / 2), round(center[1] - side / 2)
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + side, width), min(y0 + side, height)
    alpha = mask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
    region = image[fy0:fy1, fx0:fx1].astype(np.float32)
    image[fy0:fy1, fx0:fx1] = np.round(region * (1 - alpha) + color * alpha).astype(np.uint8)
    rows, cols = np.nonzero(alpha[..., 0] > 0.5)
    if rows.size == 0:
        return Box(fx0, fy0, fx1, fy1)
    return Box(fx0 + int(cols.min()), fy0 + int(rows.min()), fx0 + int(cols.max()) + 1, fy0 + int(rows.max()) + 1)


def make_sample(rng: np.random.Generator, size: int, label: int | None = None) -> Sample:
    """One size x size image with one glyph fully inside the frame."""
    label = int(rng.integers(len(GLYPH_CLASSES))) if label is None else label
    image = cluttered_background(rng, size, size)
    side = round(rng.uniform(MIN_SCALE, MAX_SCALE) * size)
    center = tuple(rng.uniform(side / 2, size - side / 2, 2))
    box = paste_glyph(image, label, center, side, rng.uniform(0, 360), _bright_color(rng))
    return Sample(image=image, label=label, box=box)


def make_dataset(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images N x H x W x 3 BGR uint8, labels N, boxes N x 4) with balanced classes."""
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng, size, index % len(GLYPH_CLASSES)) for index in range(count)]
    order = rng.permutation(count)
    images = np.stack([samples[i].image for i in order])
    labels = np.array([samples[i].label for i in order], dtype=np.int64)
    boxes = np.array([samples[i].box.as_list() for i in order], dtype=np.int32)
    return images, labels, boxes


@dataclass(frozen=True)
class VideoTruth:
    labels: list[int]
    boxes: list[Box]


def write_video(path: str | Path, frames: int, size: int, seed: int, fps: int = 15,
                segment_frames: int = 30) -> VideoTruth:  # fmt: skip
    """An MP4 of one glyph moving and turning over a cluttered scene; every
    `segment_frames` frames the scene, the glyph's class, size and colour change.
    Returns per-frame ground truth."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    if not writer.isOpened():
        raise AibError(f"video {path}: OpenCV cannot write MP4 files here")
    truth = VideoTruth(labels=[], boxes=[])
    try:
        for index in range(frames):
            if index % segment_frames == 0:
                background = cluttered_background(rng, size, size)
                label = int(rng.integers(len(GLYPH_CLASSES)))
                side = round(rng.uniform(MIN_SCALE, MAX_SCALE) * size)
                color = _bright_color(rng)
                position = rng.uniform(side / 2, size - side / 2, 2)
                velocity = rng.uniform(-1.5, 1.5, 2) * size / 128
                angle = rng.uniform(0, 360)
            angle += 4.0
            position += velocity
            for axis in range(2):
                low, high = side / 2, size - side / 2
                if not low <= position[axis] <= high:
                    velocity[axis] = -velocity[axis]
                    position[axis] = min(max(position[axis], low), high)
            frame = background.copy()
            box = paste_glyph(frame, label, tuple(position), side, angle, color)
            writer.write(frame)
            truth.labels.append(label)
            truth.boxes.append(box)
    finally:
        writer.release()
    return truth

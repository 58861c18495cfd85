"""Synthetic glyph images and videos with ground truth, drawn with OpenCV only.

No dataset can be downloaded where aib-deploy is built, so the demo model is
trained and measured on these: one glyph of a known class per image, at a
random position, scale (0.3 to 0.6 of the frame side) and rotation, over a
cluttered background of gradients, noise and distractor strokes. Every sample
carries its object box, so attention localization can be scored. Everything
is reproducible from a seed.

`SceneDesign` holds the scene's knobs (object scale, distractor strokes, and
optional extra distractors: vivid blobs that share the glyphs' colours but not
their shapes, and smaller decoy glyphs of other classes). Its defaults are the
demo's data; a non-default design is a data-design experiment (issue 14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
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
class SceneDesign:
    """How a scene is drawn. The defaults draw exactly the demo's data (same random draws, same pixels).

    - min_scale, max_scale: the glyph's side as a share of the frame side;
    - strokes: (fewest, most) distractor strokes; vivid_share: the share of them drawn in glyph-like colours;
    - blobs: (fewest, most) filled blobs in the glyphs' vivid colours whose shapes are no glyph (irregular
      polygons and long ellipses), blob_scale their size as a share of the frame side;
    - decoys: (fewest, most) glyphs of other classes, decoy_scale their size, decoy_colour "muted" (dull
      colours, so the object stays the one vivid glyph) or "vivid" (glyph colours, so only the size tells);
    - texture: the standard deviation (0-255 scale) of a blocky colour texture over the whole background,
      texture_cell its block side in pixels, so the background is busy where the glyph is flat;
    - glyph_colour: "vivid" (the demo's) or "muted" (duller, darker glyphs).
    Blobs and decoys never overlap the object's box; a design with any of them places the object first.
    """

    min_scale: float = MIN_SCALE
    max_scale: float = MAX_SCALE
    strokes: tuple[int, int] = DISTRACTOR_STROKES
    vivid_share: float = VIVID_SHARE
    blobs: tuple[int, int] = (0, 0)
    blob_scale: tuple[float, float] = (0.12, 0.3)
    decoys: tuple[int, int] = (0, 0)
    decoy_scale: tuple[float, float] = (0.15, 0.25)
    decoy_colour: str = "muted"
    texture: float = 0.0
    texture_cell: int = 4
    glyph_colour: str = "vivid"

    def __post_init__(self) -> None:
        if not 0 < self.min_scale <= self.max_scale <= 1:
            raise AibError(f"synthetic: scale range must satisfy 0 < min <= max <= 1, got {self.min_scale}, {self.max_scale}")
        for name in ("strokes", "blobs", "decoys"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise AibError(f"synthetic: {name} must be a count range 0 <= fewest <= most, got {low}, {high}")
        for name in ("blob_scale", "decoy_scale"):
            low, high = getattr(self, name)
            if not 0 < low <= high < 1:
                raise AibError(f"synthetic: {name} must satisfy 0 < min <= max < 1, got {low}, {high}")
        for name in ("decoy_colour", "glyph_colour"):
            if getattr(self, name) not in ("muted", "vivid"):
                raise AibError(f"synthetic: {name} must be 'muted' or 'vivid', got {getattr(self, name)!r}")
        if self.texture < 0 or self.texture_cell < 1:
            raise AibError(f"synthetic: texture must be >= 0 and texture_cell >= 1, got {self.texture}, {self.texture_cell}")

    @property
    def has_extras(self) -> bool:
        return self.blobs[1] > 0 or self.decoys[1] > 0

    def changes(self) -> dict:
        """The fields that differ from the demo's data, for reports."""
        default = SceneDesign()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}


DEFAULT_DESIGN = SceneDesign()


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
        return np.array(
            [[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a], [-b, -a], [-a, -a]]
        )
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


def _glyph_color(rng: np.random.Generator, design: SceneDesign) -> np.ndarray:
    if design.glyph_colour == "muted":
        return _hsv_color(rng, saturation=(60, 140), value=(110, 190))
    return _bright_color(rng)


def _hsv_color(rng: np.random.Generator, saturation: tuple[int, int], value: tuple[int, int]) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(*saturation), rng.integers(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def cluttered_background(
    rng: np.random.Generator,
    height: int,
    width: int,
    strokes: tuple[int, int] = DISTRACTOR_STROKES,
    vivid_share: float = VIVID_SHARE,
    texture: float = 0.0,
    texture_cell: int = 4,
) -> np.ndarray:
    """A dim gradient with noise and thin distractor strokes (lines and arcs), BGR uint8."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    start, end = rng.uniform(10, 110, 3), rng.uniform(10, 110, 3)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xs * math.cos(direction) + ys * math.sin(direction)) / max(height, width)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = start + ramp[..., None] * (end - start)
    image += rng.normal(0, 10, (height, width, 3))
    if texture > 0:
        cells = rng.normal(0, texture, (-(-height // texture_cell), -(-width // texture_cell), 3))
        image += np.repeat(np.repeat(cells, texture_cell, axis=0), texture_cell, axis=1)[:height, :width]
    image = np.clip(image, 0, 255).astype(np.uint8)
    base_thickness = min(height, width) / 40
    for _ in range(rng.integers(*strokes, endpoint=True)):
        # Half the strokes are as vivid as the glyphs, so colour alone does not find the object.
        vivid = rng.random() < vivid_share
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


def paste_glyph(image: np.ndarray, label: int, center: tuple[float, float], side: int, angle: float, color: np.ndarray) -> Box:
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


def _blob_mask(rng: np.random.Generator, side: int) -> np.ndarray:
    """A side x side uint8 mask of a shape that is no glyph: an irregular polygon or a long thin ellipse."""
    big = side * SUPERSAMPLE
    canvas = np.zeros((big, big), np.uint8)
    center = big / 2
    if rng.random() < 0.5:
        count = int(rng.integers(5, 9))
        angles = np.sort(rng.uniform(0, 2 * math.pi, count))
        radii = rng.uniform(0.35, 0.95, count) * big / 2
        points = np.stack([center + radii * np.cos(angles), center + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    else:
        axes = (int(big * 0.47), int(big * 0.47 / rng.uniform(2.5, 4.5)))
        cv2.ellipse(canvas, (int(center), int(center)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)


def _paste_mask(image: np.ndarray, mask: np.ndarray, x0: int, y0: int, color: np.ndarray) -> None:
    side = mask.shape[0]
    alpha = mask.astype(np.float32)[..., None] / 255
    region = image[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    image[y0 : y0 + side, x0 : x0 + side] = np.round(region * (1 - alpha) + color * alpha).astype(np.uint8)


def _free_spot(
    rng: np.random.Generator, size: int, side: int, keep_out: tuple[float, float, float, float]
) -> tuple[int, int] | None:
    """Top-left corner of a side x side square inside the frame that misses keep_out, or None after 20 tries."""
    for _ in range(20):
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        if x0 + side <= keep_out[0] or x0 >= keep_out[2] or y0 + side <= keep_out[1] or y0 >= keep_out[3]:
            return x0, y0
    return None


def _add_extras(
    rng: np.random.Generator, image: np.ndarray, design: SceneDesign, label: int, keep_out: tuple[float, float, float, float]
) -> None:
    """Blobs in glyph colours and decoy glyphs of other classes, outside keep_out (the object's box and a gap)."""
    size = image.shape[0]
    for _ in range(rng.integers(*design.blobs, endpoint=True)):
        side = max(3, round(rng.uniform(*design.blob_scale) * size))
        spot = _free_spot(rng, size, side, keep_out)
        if spot is not None:
            _paste_mask(image, _blob_mask(rng, side), *spot, _bright_color(rng))
    others = [index for index in range(len(GLYPH_CLASSES)) if index != label]
    for _ in range(rng.integers(*design.decoys, endpoint=True)):
        side = max(3, round(rng.uniform(*design.decoy_scale) * size))
        spot = _free_spot(rng, size, side, keep_out)
        if spot is None:
            continue
        color = _bright_color(rng) if design.decoy_colour == "vivid" else _hsv_color(rng, (30, 110), (90, 190))
        decoy = others[int(rng.integers(len(others)))]
        _paste_mask(image, glyph_mask(GLYPH_CLASSES[decoy], side, rng.uniform(0, 360)), *spot, color)


def make_sample(rng: np.random.Generator, size: int, label: int | None = None, design: SceneDesign = DEFAULT_DESIGN) -> Sample:
    """One size x size image with one glyph fully inside the frame."""
    label = int(rng.integers(len(GLYPH_CLASSES))) if label is None else label
    background = (design.strokes, design.vivid_share, design.texture, design.texture_cell)
    if not design.has_extras:
        image = cluttered_background(rng, size, size, *background)
        side = round(rng.uniform(design.min_scale, design.max_scale) * size)
        center = tuple(rng.uniform(side / 2, size - side / 2, 2))
        box = paste_glyph(image, label, center, side, rng.uniform(0, 360), _glyph_color(rng, design))
        return Sample(image=image, label=label, box=box)
    # Extras must miss the object, so the object is placed first.
    side = round(rng.uniform(design.min_scale, design.max_scale) * size)
    center = tuple(rng.uniform(side / 2, size - side / 2, 2))
    angle, color = rng.uniform(0, 360), _glyph_color(rng, design)
    image = cluttered_background(rng, size, size, *background)
    gap = 0.04 * size
    keep_out = (center[0] - side / 2 - gap, center[1] - side / 2 - gap, center[0] + side / 2 + gap, center[1] + side / 2 + gap)
    _add_extras(rng, image, design, label, keep_out)
    box = paste_glyph(image, label, center, side, angle, color)
    return Sample(image=image, label=label, box=box)


def make_dataset(
    count: int, size: int, seed: int, design: SceneDesign = DEFAULT_DESIGN
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images N x H x W x 3 BGR uint8, labels N, boxes N x 4) with balanced classes."""
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng, size, index % len(GLYPH_CLASSES), design) for index in range(count)]
    order = rng.permutation(count)
    images = np.stack([samples[i].image for i in order])
    labels = np.array([samples[i].label for i in order], dtype=np.int64)
    boxes = np.array([samples[i].box.as_list() for i in order], dtype=np.int32)
    return images, labels, boxes


@dataclass(frozen=True)
class VideoTruth:
    labels: list[int]
    boxes: list[Box]


def write_video(path: str | Path, frames: int, size: int, seed: int, fps: int = 15, segment_frames: int = 30) -> VideoTruth:
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

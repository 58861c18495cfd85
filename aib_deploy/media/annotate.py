"""Drawing results onto frames: the attention heat map, its colour scale, the top-1 label, fps.

The heat map is blended in by attention value, so cells the model ignores leave the scene as it is and
the attended cells stand out. The colour scale sits in a strip beside the frame, never over it. Frames
smaller than MIN_SIDE (CIFAR's 32 x 32) are enlarged by a whole factor first, cells kept sharp, so the
label and the scale can be read.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..runtime.preprocess import to_bgr
from ..runtime.result import Prediction

HEAT_WEIGHT = 0.6  # the heat map's share in the frame's most attended cell; less where attention is lower
HEAT_GAMMA = 2.0  # the share falls with the square of the attention (relative to the peak): faint cells stay clear
MIN_SIDE = 256  # frames with a shorter side are enlarged to at least this...
MAX_SIDE = 4096  # ...unless that would take the longer side past this (a 1 x 5000 strip stays as it is)
MIN_BAR = 8  # the shortest colour bar worth drawing, in pixels
LEGEND_SHARE = 0.14  # the colour-scale strip's width, as a share of the frame's width
TEXT_COLOR = (255, 255, 255)
SHADOW_COLOR = (0, 0, 0)
STRIP_COLOR = (40, 40, 40)
BOX_COLOR = (255, 255, 255)


def heat_map(attention: np.ndarray, height: int, width: int) -> np.ndarray:
    """The attention values (in [0, 1]) as a JET-coloured BGR image of the frame's size, one block per cell."""
    scaled = np.clip(attention, 0.0, 1.0)
    resized = cv2.resize((scaled * 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(resized, cv2.COLORMAP_JET)


def blend_by_attention(image: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """`image` with the heat map laid over each cell by its attention relative to the frame's peak (the peak
    cell at HEAT_WEIGHT, falling with HEAT_GAMMA): low attention leaves the scene as it is."""
    height, width = image.shape[:2]
    peak = float(np.max(attention))
    share = (np.clip(attention, 0.0, 1.0) / peak) ** HEAT_GAMMA if peak > 0 else np.zeros_like(attention)
    alpha = cv2.resize(share.astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)[..., None] * HEAT_WEIGHT
    blended = image.astype(np.float32) * (1 - alpha) + heat_map(attention, height, width).astype(np.float32) * alpha
    return blended.round().astype(np.uint8)


def put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    thickness = max(1, round(scale * 2))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, SHADOW_COLOR, thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, thickness, cv2.LINE_AA)


def legend_strip(height: int, width: int, anchors: tuple[float, ...] | None, scale: float) -> np.ndarray:
    """The colour scale in a strip of its own: 1 at the top, a tick at every anchor value, the extreme
    values (the anchors', or 0 and 1) written beside the bar."""
    strip = np.full((height, width, 3), STRIP_COLOR, np.uint8)
    bar_height, bar_width = int(height * 0.7), max(6, width // 5)
    x0, y0 = 4, (height - bar_height) // 2
    if bar_height < MIN_BAR:  # a frame a few pixels high has no room for a scale
        return strip
    ramp = np.linspace(255, 0, bar_height).astype(np.uint8).reshape(-1, 1)
    strip[y0 : y0 + bar_height, x0 : x0 + bar_width] = cv2.applyColorMap(np.repeat(ramp, bar_width, axis=1), cv2.COLORMAP_JET)
    values = anchors if anchors else (0.0, 1.0)

    def row_of(value: float) -> int:
        return y0 + round((1.0 - min(max(value, 0.0), 1.0)) * (bar_height - 1))

    for value in values:
        cv2.line(strip, (x0 + bar_width, row_of(value)), (x0 + bar_width + 3, row_of(value)), TEXT_COLOR, 1)
    text_scale = max(0.3, scale * 0.6)
    for value in (max(values), min(values)):
        size = cv2.getTextSize(f"{value:.2f}", cv2.FONT_HERSHEY_SIMPLEX, text_scale, 1)[0]
        put_text(strip, f"{value:.2f}", (x0 + bar_width + 5, row_of(value) + size[1] // 2), text_scale)
    return strip


def enlarged(image: np.ndarray) -> tuple[np.ndarray, int]:
    """`image` enlarged by the whole factor that brings its shorter side to MIN_SIDE (1 when it already is)."""
    factor = max(1, min(math.ceil(MIN_SIDE / min(image.shape[:2])), MAX_SIDE // max(image.shape[:2])))
    if factor == 1:
        return image, 1
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST), factor


def annotate(
    frame: np.ndarray,
    prediction: Prediction,
    fps: float | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """A BGR picture of `frame` with the attention blended in, the top-1 label, and the colour scale in a
    strip on the right; `box` (x0, y0, x1, y1 in the frame's pixels) is drawn in white. Every frame of a
    video gets the same size, errors included."""
    image, factor = enlarged(to_bgr(frame))
    image = image.copy()
    height, width = image.shape[:2]
    scale = max(0.45, min(height, width) / 500)
    if prediction.ok:
        image = blend_by_attention(image, prediction.attention)
    if box is not None:
        x0, y0, x1, y1 = (round(value * factor) for value in box)
        cv2.rectangle(image, (x0, y0), (x1, y1), BOX_COLOR, max(1, width // 150))
    if prediction.ok:
        best = prediction.top_k[0]
        put_text(image, f"{best.label} {best.score:.0%}", (8, int(30 * scale) + 4), scale)
    else:
        put_text(image, f"error: {prediction.error[:60]}", (8, int(30 * scale) + 4), scale)
    if fps is not None:
        put_text(image, f"{fps:.1f} fps", (8, height - 10), scale * 0.8)
    strip = legend_strip(height, max(44, round(width * LEGEND_SHARE)), prediction.anchors, scale)
    return np.hstack([image, strip])

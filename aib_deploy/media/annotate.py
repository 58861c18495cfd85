"""Drawing results onto frames: the attention heat map, the top-1 label, fps."""

from __future__ import annotations

import cv2
import numpy as np

from ..runtime.preprocess import to_bgr
from ..runtime.result import Prediction

HEAT_WEIGHT = 0.45
TEXT_COLOR = (255, 255, 255)
SHADOW_COLOR = (0, 0, 0)


def heat_map(attention: np.ndarray, height: int, width: int) -> np.ndarray:
    """The attention values (in [0, 1]) as a JET-coloured BGR image of the frame's size."""
    scaled = np.clip(attention, 0.0, 1.0)
    resized = cv2.resize((scaled * 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(resized, cv2.COLORMAP_JET)


def put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    thickness = max(1, round(scale * 2))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, SHADOW_COLOR, thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, thickness, cv2.LINE_AA)


def draw_legend(image: np.ndarray, anchors: tuple[float, ...], scale: float) -> None:
    """The heat map's colour scale on the right edge, 1 at the top, with a tick at every anchor value."""
    height, width = image.shape[:2]
    bar_height, bar_width = int(height * 0.45), max(6, int(10 * scale))
    x0, y0 = width - bar_width - 6, (height - bar_height) // 2
    ramp = np.linspace(255, 0, bar_height).astype(np.uint8).reshape(-1, 1)
    image[y0 : y0 + bar_height, x0 : x0 + bar_width] = cv2.applyColorMap(np.repeat(ramp, bar_width, axis=1), cv2.COLORMAP_JET)
    for value in anchors:
        y = y0 + round((1.0 - min(max(value, 0.0), 1.0)) * (bar_height - 1))
        cv2.line(image, (x0 - 4, y), (x0 - 1, y), TEXT_COLOR, 1)
    for value in (max(anchors), min(anchors)):
        y = y0 + round((1.0 - min(max(value, 0.0), 1.0)) * (bar_height - 1))
        text = f"{value:.2f}"
        size = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, 1)[0]
        put_text(image, text, (x0 - size[0] - 8, y + size[1] // 2), scale * 0.7)


def annotate(frame: np.ndarray, prediction: Prediction, fps: float | None = None) -> np.ndarray:
    """A BGR copy of `frame` with the heat map blended in and the top-1 label written on it."""
    image = to_bgr(frame).copy()
    height, width = image.shape[:2]
    scale = max(0.4, min(height, width) / 500)
    if not prediction.ok:
        put_text(image, f"error: {prediction.error[:60]}", (8, int(30 * scale) + 4), scale)
        return image
    image = cv2.addWeighted(image, 1 - HEAT_WEIGHT, heat_map(prediction.attention, height, width), HEAT_WEIGHT, 0)
    if prediction.anchors is not None:
        draw_legend(image, prediction.anchors, scale)
    best = prediction.top_k[0]
    put_text(image, f"{best.label} {best.score:.0%}", (8, int(30 * scale) + 4), scale)
    if fps is not None:
        put_text(image, f"{fps:.1f} fps", (8, height - 10), scale * 0.8)
    return image

"""bench.png: median latency against batch size, one panel per model, drawn with OpenCV (no plotting library)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np

PANEL = (520, 380)  # width, height
MARGIN = (70, 40, 20, 60)  # left, top, right, bottom
COLORS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def log_scale(value: float, low: float, high: float, length: int) -> int:
    span = math.log10(high) - math.log10(low) or 1.0
    return round((math.log10(value) - math.log10(low)) / span * length)


def draw_panel(canvas: np.ndarray, x0: int, model: str, rows: list[dict], colors: dict[str, tuple]) -> None:
    left, top, right, bottom = MARGIN
    width, height = PANEL[0] - left - right, PANEL[1] - top - bottom
    batches = sorted({row["batch"] for row in rows})
    latencies = [row["median_ms"] for row in rows]
    low, high = 10 ** math.floor(math.log10(min(latencies))), 10 ** math.ceil(math.log10(max(latencies)))
    b_low, b_high = min(batches), max(batches) if max(batches) > min(batches) else min(batches) * 2

    def point(batch: int, ms: float) -> tuple[int, int]:
        return x0 + left + log_scale(batch, b_low, b_high, width), top + height - log_scale(ms, low, high, height)

    cv2.rectangle(canvas, (x0 + left, top), (x0 + left + width, top + height), (0, 0, 0), 1)
    cv2.putText(canvas, model, (x0 + left, top - 12), FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    decade = low
    while decade <= high:
        y = point(b_low, decade)[1]
        cv2.line(canvas, (x0 + left, y), (x0 + left + width, y), (225, 225, 225), 1)
        cv2.putText(canvas, f"{decade:g} ms", (x0 + 4, y + 4), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        decade *= 10
    for batch in batches:
        x = point(batch, low)[0]
        cv2.putText(canvas, str(batch), (x - 5, top + height + 18), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "batch size", (x0 + left + width // 2 - 35, top + height + 40), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for backend, color in colors.items():
        series = sorted((row["batch"], row["median_ms"]) for row in rows if row["backend"] == backend)
        points = [point(batch, ms) for batch, ms in series]
        for a, b in itertools.pairwise(points):
            cv2.line(canvas, a, b, color, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(canvas, p, 4, color, -1, cv2.LINE_AA)


def plot_latency(rows: list[dict], path: Path, title: str = "") -> None:
    """Median latency (log) against batch size (log) per backend; a legend below the panels."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    backends = list(dict.fromkeys(row["backend"] for row in rows))
    colors = {backend: COLORS[i % len(COLORS)][::-1] for i, backend in enumerate(backends)}  # RGB -> BGR
    legend_height = 24 * len(backends) + 40
    canvas = np.full((PANEL[1] + legend_height, PANEL[0] * max(len(models), 1), 3), 255, np.uint8)
    for index, model in enumerate(models):
        draw_panel(canvas, index * PANEL[0], model, [row for row in rows if row["model"] == model], colors)
    y = PANEL[1] + 10
    cv2.putText(canvas, f"median latency per batch; {title}", (MARGIN[0], y + 8), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for backend, color in colors.items():
        y += 24
        cv2.line(canvas, (MARGIN[0], y), (MARGIN[0] + 30, y), color, 3)
        cv2.putText(canvas, backend, (MARGIN[0] + 40, y + 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"cannot write {path}")

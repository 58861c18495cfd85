"""`aib perf --plot`: latency against throughput, one point per level, p50 and p99, drawn with OpenCV (no
plotting library), as perf_analyzer's users draw its CSV: where the curve turns up is the server's knee."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np

SIZE = (720, 480)  # width, height
MARGIN = (80, 50, 30, 70)  # left, top, right, bottom
SERIES = {"p50_latency_us": ("p50", (180, 119, 31)), "p99_latency_us": ("p99", (14, 127, 255))}  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def plot_latency_throughput(rows: list[dict], path: Path, title: str) -> None:
    """p50 and p99 latency (ms, log scale) against inferences per second, a point per level, labelled."""
    points = [row for row in rows if row["p50_latency_us"] and row["p99_latency_us"] and row["inferences_per_s"] > 0]
    canvas = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    left, top, right, bottom = MARGIN
    width, height = SIZE[0] - left - right, SIZE[1] - top - bottom
    cv2.putText(canvas, title[:90], (left, 28), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(canvas, (left, top), (left + width, top + height), (0, 0, 0), 1)
    cv2.putText(canvas, "inferences/s", (left + width // 2 - 45, SIZE[1] - 20), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if points:
        x_high = max(row["inferences_per_s"] for row in points) * 1.1
        latencies = [row[key] / 1e3 for row in points for key in SERIES]
        low, high = 10 ** math.floor(math.log10(min(latencies))), 10 ** math.ceil(math.log10(max(latencies)))

        def at(throughput: float, ms: float) -> tuple[int, int]:
            y = (math.log10(ms) - math.log10(low)) / ((math.log10(high) - math.log10(low)) or 1.0)
            return left + round(throughput / x_high * width), top + height - round(y * height)

        decade = low
        while decade <= high:
            y = at(0, decade)[1]
            cv2.line(canvas, (left, y), (left + width, y), (225, 225, 225), 1)
            cv2.putText(canvas, f"{decade:g} ms", (8, y + 4), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
            decade *= 10
        for key, (name, color) in SERIES.items():
            line = [at(row["inferences_per_s"], row[key] / 1e3) for row in points]
            for start, end in itertools.pairwise(line):
                cv2.line(canvas, start, end, color, 2, cv2.LINE_AA)
            for point in line:
                cv2.circle(canvas, point, 4, color, -1, cv2.LINE_AA)
            cv2.putText(canvas, name, (line[-1][0] - 30, line[-1][1] - 8), FONT, 0.5, color, 1, cv2.LINE_AA)
        for row in points:
            level = row["concurrency"] if row["request_rate"] is None else f"{row['request_rate']:g}/s"
            x, y = at(row["inferences_per_s"], row["p50_latency_us"] / 1e3)
            cv2.putText(canvas, str(level), (x - 10, y + 18), FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
        tick = left + width
        cv2.putText(canvas, f"{x_high:.0f}", (tick - 30, top + height + 18), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, "0", (left - 4, top + height + 18), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"cannot write {path}")

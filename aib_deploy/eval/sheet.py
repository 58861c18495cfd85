"""The contact sheet: the best and the worst frames by the pointing game, attention over the frame,
the true box in white."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..media.annotate import annotate, put_text
from ..media.io import read_image

TILE = 200


def tile(item, share: float) -> np.ndarray:
    image = annotate(read_image(item.sample.path), item.prediction)  # read again: evaluation keeps no images
    x0, y0, x1, y1 = (round(v) for v in item.sample.box)
    cv2.rectangle(image, (x0, y0), (x1, y1), (255, 255, 255), max(1, image.shape[1] // 150))
    image = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    put_text(image, f"pointing {share:.2f}", (6, TILE - 8), 0.45)
    return image


def contact_sheet(items: list, shares: list[float], count: int, path: Path) -> None:
    """Row 1: the `count` frames whose attention maximum lies most in the box; row 2: the least."""
    order = np.argsort(shares, kind="stable")
    count = min(count, len(items))
    rows = [order[::-1][:count], order[:count]]
    sheet = np.full((2 * TILE, count * TILE, 3), 255, np.uint8)
    for row, picks in enumerate(rows):
        for column, index in enumerate(picks):
            sheet[row * TILE : (row + 1) * TILE, column * TILE : (column + 1) * TILE] = tile(items[index], shares[index])
    if not cv2.imwrite(str(path), sheet):
        raise OSError(f"cannot write {path}")

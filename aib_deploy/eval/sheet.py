"""The contact sheet: the best and the worst frames by the pointing game, each with the attention over the
frame, the true box in white, and a caption below it (true and predicted label, the pointing share)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..media.annotate import annotate
from ..media.io import read_image

TILE = 200  # a tile's picture fits in TILE x TILE, aspect kept
CAPTION = 44  # the caption's height under each picture
ROW_LABEL = 56  # the left margin that names the row
INK, PAPER, WRONG = (20, 20, 20), (255, 255, 255), (30, 30, 200)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def fitted(text: str, width: int) -> str:
    """`text` cut, with a "~", to what fits in `width` pixels at the caption's size."""
    while len(text) > 1 and cv2.getTextSize(text, FONT, 0.4, 1)[0][0] > width - 8:
        text = text[:-2] + "~"
    return text


def tile(item, share: float, labels: Sequence[str]) -> np.ndarray:
    """One frame, annotated (read again: evaluation keeps no images), fitted into TILE x TILE, captioned."""
    picture = annotate(read_image(item.sample.path), item.prediction, box=item.sample.box)
    factor = TILE / max(picture.shape[:2])
    size = (max(1, round(picture.shape[1] * factor)), max(1, round(picture.shape[0] * factor)))
    picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    cell = np.full((TILE + CAPTION, TILE, 3), PAPER, np.uint8)
    top, left = (TILE - size[1]) // 2, (TILE - size[0]) // 2
    cell[top : top + size[1], left : left + size[0]] = picture
    best = item.prediction.top_k[0]
    truth = labels[item.sample.class_index]
    color = INK if best.class_index == item.sample.class_index else WRONG
    lines = [(f"true {truth}", INK), (f"pred {best.label} {best.score:.0%}", color), (f"pointing {share:.2f}", INK)]
    for row, (text, ink) in enumerate(lines):
        cv2.putText(cell, fitted(text, TILE), (4, TILE + 12 + 14 * row), FONT, 0.4, ink, 1, cv2.LINE_AA)
    return cell


def contact_sheet(items: list, shares: list[float], count: int, path: Path, labels: Sequence[str]) -> None:
    """Row "best": the `count` frames whose attention maximum lies most in the box; row "worst": the least."""
    order = np.argsort(shares, kind="stable")
    count = min(count, len(items))
    rows = [("best", order[::-1][:count]), ("worst", order[:count])]
    height = TILE + CAPTION
    sheet = np.full((2 * height, ROW_LABEL + count * TILE, 3), PAPER, np.uint8)
    for row, (name, picks) in enumerate(rows):
        cv2.putText(sheet, name, (6, row * height + TILE // 2), FONT, 0.5, INK, 1, cv2.LINE_AA)
        for column, index in enumerate(picks):
            x = ROW_LABEL + column * TILE
            sheet[row * height : (row + 1) * height, x : x + TILE] = tile(items[index], shares[index], labels)
    if not cv2.imwrite(str(path), sheet):
        raise OSError(f"cannot write {path}")

"""Writing a labelled set in CUB-200-2011's layout, the one `aib eval` reads as a folder.

Boxes come in as corners (x0, y0, x1, y1), as most tools and `aib eval`'s own records give them; the
files hold CUB's x y width height. Class ids in the files are 1-based, as CUB's are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import AibError


def write_cub_layout(
    folder: Path,
    images: Sequence[np.ndarray],
    class_indices: Sequence[int],
    boxes: Sequence[Sequence[float]] | None = None,
    train: Sequence[bool] | None = None,
) -> Path:
    """FOLDER/images/NNNNN.png plus images.txt, image_class_labels.txt, train_test_split.txt and (with
    boxes) bounding_boxes.txt; every image in the test split unless `train` says otherwise."""
    count = len(images)
    if len(class_indices) != count or (boxes is not None and len(boxes) != count) or (train is not None and len(train) != count):
        raise AibError("write_cub_layout: images, class_indices, boxes and train must be as long as each other")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {"images": [], "image_class_labels": [], "train_test_split": [], "bounding_boxes": []}
    for number, image in enumerate(images, start=1):
        name = f"{number:05d}.png"
        if not cv2.imwrite(str(folder / "images" / name), image):
            raise AibError(f"{folder / 'images' / name}: OpenCV cannot write it")
        rows["images"].append(f"{number} {name}")
        rows["image_class_labels"].append(f"{number} {int(class_indices[number - 1]) + 1}")
        rows["train_test_split"].append(f"{number} {int(bool(train[number - 1])) if train is not None else 0}")
        if boxes is not None:
            x0, y0, x1, y1 = (float(value) for value in boxes[number - 1])
            if x1 <= x0 or y1 <= y0:
                raise AibError(f"write_cub_layout: box {number} ({x0}, {y0}, {x1}, {y1}) is not x0 < x1, y0 < y1")
            rows["bounding_boxes"].append(f"{number} {x0:g} {y0:g} {x1 - x0:g} {y1 - y0:g}")
    for name, lines in rows.items():
        if lines:
            (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return folder

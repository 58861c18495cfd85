"""Labelled images for `aib eval`: CUB-200-2011's own layout, one folder per class (ImageFolder), or a CSV /
JSON-lines list.

CUB: DATA/images.txt (id path), image_class_labels.txt (id class, 1-based), bounding_boxes.txt
(id x y width height, pixels of the original image), train_test_split.txt (id is_training).
A list: one `path,label[,x,y,w,h]` line (CSV, after an optional header row of those names) or
`{"path", "label", "box": [x, y, w, h]}` object (JSON lines) per image; `label` is a class index or a
label name. Paths are relative to the folder's `images/`. A bad line is one error naming the file and
line; the others go on.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import AibError
from ..media.io import IMAGE_SUFFIXES

CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt")
SPLITS = ("test", "train", "all")
CSV_HEADER = ("path", "label")  # a list's optional first row
JSONL_KEYS = ("path", "label", "box")


@dataclass(frozen=True)
class Sample:
    path: Path
    class_index: int
    box: tuple[float, float, float, float] | None  # x0, y0, x1, y1 in pixels
    where: str  # FILE:LINE, for error lines


def box_from_xywh(values: list[str], where: str) -> tuple[float, float, float, float]:
    try:
        x, y, width, height = (float(value) for value in values)
    except (ValueError, TypeError):
        raise AibError(f"{where}: box {values} is not four numbers x, y, width, height") from None
    if not all(math.isfinite(value) for value in (x, y, width, height)):
        raise AibError(f"{where}: box {values} is not four finite numbers x, y, width, height")
    if width <= 0 or height <= 0:
        raise AibError(f"{where}: box {values} has no area")
    return x, y, x + width, y + height


def read_text(path: Path) -> str:
    """A data file's text: UTF-8, with or without a byte-order mark; anything else is one line naming the file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise AibError(f"data {path}: not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8") from None


def read_table(path: Path) -> dict[str, tuple[list[str], str]]:
    """CUB's `id value...` files: id -> (values, FILE:LINE)."""
    rows = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            key, *values = line.split()
            rows[key] = (values, f"{path}:{number}")
    return rows


def read_cub(folder: Path, split: str, num_classes: int) -> tuple[list[Sample], list[str]]:
    missing = [name for name in CUB_FILES if not (folder / name).is_file()]
    if missing:
        raise AibError(f"data {folder}: not CUB's layout; missing {', '.join(missing)}")
    images, labels, splits = (read_table(folder / name) for name in CUB_FILES)
    boxes = read_table(folder / "bounding_boxes.txt") if (folder / "bounding_boxes.txt").is_file() else {}
    samples, errors = [], []
    for key, (values, where) in images.items():
        try:
            if len(values) != 1:
                raise AibError(f"{where}: expected 'id path', got {len(values) + 1} fields")
            if key not in splits or splits[key][0] not in (["0"], ["1"]):
                raise AibError(f"{where}: image id {key} has no 'id 0|1' line in {folder / 'train_test_split.txt'}")
            if split != "all" and splits[key][0][0] != ("1" if split == "train" else "0"):
                continue
            if key not in labels:
                raise AibError(f"{where}: image id {key} has no line in {folder / 'image_class_labels.txt'}")
            class_values, class_where = labels[key]
            class_id = class_values[0] if len(class_values) == 1 else None
            if class_id is None or not class_id.isdigit() or not 1 <= int(class_id) <= num_classes:
                raise AibError(
                    f"{class_where}: expected 'id class' with a class 1 to {num_classes}, got {' '.join(class_values)!r}"
                )
            box = box_from_xywh(boxes[key][0], boxes[key][1]) if key in boxes else None
            samples.append(Sample(folder / "images" / values[0], int(class_id) - 1, box, where))
        except AibError as error:
            errors.append(str(error))
    return samples, errors


def label_index(label: str, labels: tuple[str, ...], where: str) -> int:
    if label.strip().isdigit() and int(label) < len(labels):
        return int(label)
    if label.strip() in labels:
        return labels.index(label.strip())
    raise AibError(f"{where}: unknown label {label!r}; expected a class index below {len(labels)} or one of the model's labels")


def read_list(path: Path, labels: tuple[str, ...]) -> tuple[list[Sample], list[str]]:
    folder = path.parent / "images"
    samples, errors = [], []
    lines = read_text(path).splitlines()
    rows = lines if path.suffix == ".jsonl" else list(csv.reader(lines))
    for number, row in enumerate(rows, start=1):
        where = f"{path}:{number}"
        if not row or (isinstance(row, str) and not row.strip()):
            continue
        if number == 1 and isinstance(row, list) and [field.strip().lower() for field in row[:2]] == list(CSV_HEADER):
            continue  # a header row: path,label[,x,y,w,h]
        try:
            if isinstance(row, str):
                try:
                    row = json.loads(row)
                except json.JSONDecodeError as error:
                    raise AibError(f"{where}: not a JSON object ({error.msg})") from None
                if not isinstance(row, dict):
                    raise AibError(f"{where}: not a JSON object")
            if isinstance(row, dict):
                unknown = sorted(set(row) - set(JSONL_KEYS))
                if unknown:
                    raise AibError(f"{where}: unknown keys {', '.join(unknown)}; expected {', '.join(JSONL_KEYS)} ([x, y, w, h])")
                name, label, box = row.get("path"), str(row.get("label", "")), row.get("box")
                if box is not None and not isinstance(box, list):
                    raise AibError(f"{where}: box {box!r} is not a list [x, y, w, h]")
                values = [str(v) for v in box] if box is not None else None
            else:
                if len(row) not in (2, 6):
                    raise AibError(f"{where}: expected path,label or path,label,x,y,w,h; got {len(row)} fields")
                name, label, values = row[0], row[1], row[2:] or None
            if not name or not isinstance(name, str):
                raise AibError(f"{where}: expected a path (text), got {name!r}")
            samples.append(
                Sample(folder / name, label_index(label, labels, where), box_from_xywh(values, where) if values else None, where)
            )
        except AibError as error:
            errors.append(str(error))
    return samples, errors


def read_image_folder(folder: Path, labels: tuple[str, ...]) -> tuple[list[Sample], list[str]]:
    """torchvision's ImageFolder layout: FOLDER/CLASS/IMAGE, where CLASS is one of the model's labels or a class
    index; no boxes, so only the classes are scored. A folder that names no class is one error."""
    samples, errors = [], []
    for class_folder in sorted(entry for entry in folder.iterdir() if entry.is_dir()):
        try:
            class_index = label_index(class_folder.name, labels, str(class_folder))
        except AibError as error:
            errors.append(str(error))
            continue
        for path in sorted(class_folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(path, class_index, None, f"{class_folder}/{path.name}"))
    return samples, errors


def read_samples(data: Path, labels: tuple[str, ...], split: str = "test") -> tuple[list[Sample], list[str]]:
    """The samples a data folder (CUB layout) or list file names, and one line per bad entry."""
    if split not in SPLITS:
        raise AibError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if data.is_dir():
        if not any((data / name).is_file() for name in CUB_FILES) and any(entry.is_dir() for entry in data.iterdir()):
            return read_image_folder(data, labels)
        return read_cub(data, split, len(labels))
    if data.suffix.lower() in (".csv", ".jsonl"):
        if not data.is_file():
            raise AibError(f"data {data}: file not found")
        return read_list(data, labels)
    raise AibError(f"data {data}: expected a folder in CUB's layout, or a .csv or .jsonl list")

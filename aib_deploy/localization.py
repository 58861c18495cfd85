"""How well an attention map points at the object: the two scores the demo reports.

Boxes are in pixels of the image the attention belongs to; a map cell counts
as inside a box when its centre lies inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def box_mask(box: Sequence[float], image_height: int, image_width: int, att_dim: int) -> np.ndarray:
    """att_dim x att_dim booleans: cells whose centre lies inside box (x0, y0, x1, y1)."""
    centres_y = (np.arange(att_dim) + 0.5) * image_height / att_dim
    centres_x = (np.arange(att_dim) + 0.5) * image_width / att_dim
    x0, y0, x1, y1 = box
    inside_y = (centres_y >= y0) & (centres_y < y1)
    inside_x = (centres_x >= x0) & (centres_x < x1)
    return inside_y[:, None] & inside_x[None, :]


def max_in_box_share(attention: np.ndarray, inside: np.ndarray) -> float:
    """The share of the map's maximal cells that lie inside the box.

    Quantized maps often tie at the top anchor; a tie counts as the chance that
    a maximal cell picked at random is inside, not as a hit.
    """
    top = attention >= attention.max()
    return float((top & inside).sum() / top.sum())


def min_in_box_share(attention: np.ndarray, inside: np.ndarray) -> float:
    """Like `max_in_box_share` for the minimal cells: high when a map marks the object by suppressing it."""
    return max_in_box_share(-attention, inside)


@dataclass(frozen=True)
class LocalizationScores:
    max_in_box: float
    min_in_box: float
    chance: float
    inside_outside_ratio: float
    mass_in_box: float
    images: int

    def to_dict(self) -> dict:
        return {
            "attention_max_in_box": self.max_in_box,
            "attention_min_in_box": self.min_in_box,
            "chance_max_in_box": self.chance,
            "attention_inside_outside_ratio": self.inside_outside_ratio,
            "attention_mass_in_box": self.mass_in_box,
            "images": self.images,
        }


def pointing_shares(
    attention_maps: Sequence[np.ndarray], boxes: Sequence[Sequence[float]], sizes: Sequence[tuple[int, int]]
) -> list[float]:
    """Each frame's max-in-box share (the pointing game, ties as a share), for ranking frames."""
    return [
        max_in_box_share(np.asarray(a, np.float64).reshape(a.shape[-2:]), box_mask(box, *size, a.shape[-1]))
        for a, box, size in zip(attention_maps, boxes, sizes)
    ]


def score_localization(
    attention_maps: Sequence[np.ndarray],
    boxes: Sequence[Sequence[float]],
    image_height: int | Sequence[tuple[int, int]],
    image_width: int | None = None,
) -> LocalizationScores:
    """Mean max- and min-in-box shares, their chance rate (mean box coverage), the pooled ratio of mean
    attention inside the boxes to mean attention outside them, and the pooled share of attention mass
    inside the boxes. Sizes are one (height, width) for all images, or one per image."""
    sizes = image_height if image_width is None else [(image_height, image_width)] * len(attention_maps)
    shares, low_shares, coverage = [], [], []
    inside_sum = outside_sum = 0.0
    inside_count = outside_count = 0
    for attention, box, (height, width) in zip(attention_maps, boxes, sizes):
        attention = np.asarray(attention, dtype=np.float64).reshape(attention.shape[-2:])
        inside = box_mask(box, height, width, attention.shape[-1])
        shares.append(max_in_box_share(attention, inside))
        low_shares.append(min_in_box_share(attention, inside))
        coverage.append(inside.mean())
        inside_sum += attention[inside].sum()
        outside_sum += attention[~inside].sum()
        inside_count += int(inside.sum())
        outside_count += int((~inside).sum())
    outside_mean = outside_sum / max(outside_count, 1)
    ratio = (inside_sum / max(inside_count, 1)) / outside_mean if outside_mean > 0 else float("inf")
    mass = inside_sum / max(inside_sum + outside_sum, 1e-12)
    return LocalizationScores(
        float(np.mean(shares)), float(np.mean(low_shares)), float(np.mean(coverage)), float(ratio), float(mass), len(shares)
    )

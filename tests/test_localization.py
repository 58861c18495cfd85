"""The attention localization scores the demo reports."""

import numpy as np
import pytest

from aib_deploy.localization import box_mask, max_in_box_share, score_localization


def test_box_mask_uses_cell_centres():
    mask = box_mask((0, 0, 16, 8), 32, 32, 4)  # cells are 8 px: centres at 4, 12, 20, 28
    assert mask.tolist() == [[True, True, False, False]] + [[False] * 4] * 3


def test_ties_count_as_a_share_not_a_hit():
    inside = np.zeros((4, 4), bool)
    inside[0, 0] = True
    attention = np.zeros((4, 4))
    attention[0, 0] = attention[3, 3] = 1.0
    assert max_in_box_share(attention, inside) == 0.5


def test_scores_on_a_perfect_and_an_inverted_map():
    box = (0, 0, 16, 16)
    inside = box_mask(box, 32, 32, 8)
    good = np.where(inside, 0.9, 0.3)
    scores = score_localization([good], [box], 32, 32)
    assert scores.max_in_box == 1.0 and scores.inside_outside_ratio == pytest.approx(3.0)
    assert scores.chance == pytest.approx(0.25)
    inverted = score_localization([1.2 - good], [box], 32, 32)
    assert inverted.max_in_box == 0.0 and inverted.inside_outside_ratio == pytest.approx(0.3 / 0.9)
    assert inverted.min_in_box == 1.0 and scores.min_in_box == 0.0

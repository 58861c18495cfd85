"""The annotated picture: attention blended by value, the colour scale beside the frame, small frames enlarged."""

import numpy as np

from aib_deploy.media.annotate import HEAT_WEIGHT, MIN_SIDE, annotate
from aib_deploy.runtime.result import ClassScore, Prediction

ANCHORS = (0.05, 0.5, 0.95)


def prediction(attention: np.ndarray) -> Prediction:
    return Prediction(top_k=[ClassScore(0, "ring", 0.9)], attention=attention.astype(np.float32), anchors=ANCHORS)


def test_cells_without_attention_leave_the_scene_as_it_is():
    frame = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    attention = np.zeros((8, 8), np.float32)
    attention[2, 5] = 0.95  # one cell of 32 x 32 pixels
    picture = annotate(frame, prediction(attention))
    scene = picture[:, :256]
    changed = np.argwhere((scene != frame).any(axis=2))
    label_rows = 40  # the top-1 label is written at the top left
    assert changed[changed[:, 0] >= label_rows].min(axis=0).tolist() == [2 * 32, 5 * 32]
    assert changed[changed[:, 0] >= label_rows].max(axis=0).tolist() == [3 * 32 - 1, 6 * 32 - 1]
    cell = scene[70:90, 170:185].astype(float)
    original = frame[70:90, 170:185].astype(float)
    assert np.abs(cell - original).mean() > 0.2 * HEAT_WEIGHT * 255 / 2  # the attended cell is clearly tinted


def test_the_scale_is_a_strip_beside_the_frame_and_every_frame_has_one_size():
    frame = np.full((120, 200, 3), 128, np.uint8)
    attention = np.full((4, 4), 0.05, np.float32)
    attention[0, 3] = 0.95  # the hottest cell is at the right edge, where a scale drawn inside would sit
    good = annotate(frame, prediction(attention))
    failed = annotate(frame, Prediction(error="JPEG: cut short"))
    enlarged = MIN_SIDE // 120 + 1  # 120 -> 360, a whole factor
    assert good.shape == failed.shape and good.shape[0] == 120 * enlarged and good.shape[1] > 200 * enlarged
    hot_cell = good[10 : 120 * enlarged // 4 - 10, 200 * enlarged * 3 // 4 + 10 : 200 * enlarged - 10]
    assert (hot_cell[..., 2] > 150).mean() > 0.9  # red of the heat map, not the scale's bar drawn over it


def test_small_frames_are_enlarged_with_sharp_cells():
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[::2, ::2] = 255
    picture = annotate(frame, prediction(np.zeros((16, 16), np.float32)))
    pixels = np.kron(frame[..., 0], np.ones((8, 8), np.uint8))  # each pixel an 8 x 8 block, nothing smoothed
    assert picture.shape[0] == MIN_SIDE and np.array_equal(picture[64:, :MIN_SIDE, 0], pixels[64:])  # below the label

"""Synthetic glyph data: reproducible, balanced, boxes that hold the glyph; a real video file."""

import cv2
import numpy as np
import pytest

from aib_deploy.media.synthetic import GLYPH_CLASSES, MAX_SCALE, MIN_SCALE, glyph_mask, make_dataset, write_video


def test_same_seed_same_data_other_seed_other_data():
    a = make_dataset(16, 64, seed=3)
    b = make_dataset(16, 64, seed=3)
    c = make_dataset(16, 64, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_classes_are_balanced_and_boxes_fit_the_scale_range():
    images, labels, boxes = make_dataset(80, 128, seed=1)
    assert images.shape == (80, 128, 128, 3) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=len(GLYPH_CLASSES)).tolist() == [10] * len(GLYPH_CLASSES)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 128).all()
    assert sides.max() <= MAX_SCALE * 128 + 1 and sides.min() >= 0.4 * MIN_SCALE * 128


def test_every_glyph_has_a_distinct_mask():
    masks = [glyph_mask(name, 48, 0) > 127 for name in GLYPH_CLASSES]
    for i, a in enumerate(masks):
        assert 0.08 < a.mean() < 0.9
        for b in masks[i + 1 :]:
            assert (a != b).mean() > 0.05


def test_video_round_trips_through_opencv(tmp_path):
    path = tmp_path / "clip.mp4"
    truth = write_video(path, frames=45, size=96, seed=5, segment_frames=15)
    assert len(truth.labels) == len(truth.boxes) == 45
    assert all(len(set(truth.labels[i * 15 : (i + 1) * 15])) == 1 for i in range(3)), "one class per segment"
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 45 and frames[0].shape == (96, 96, 3)
    assert not np.array_equal(frames[0], frames[1]), "the glyph moves"
    step = [np.abs(frames[i + 1].astype(int) - frames[i]).mean() for i in range(44)]
    boundaries = [step[14], step[29]]
    within = [value for i, value in enumerate(step) if i not in (14, 29)]
    assert min(boundaries) > 5 * max(within), "the scene changes at each segment boundary and only there"


def test_scene_designs_for_the_demo_model_experiments():
    """The default design is the demo's data; other designs change the scene but not labels or boxes' validity,
    and impossible designs are refused in one line naming the knob."""
    from aib_deploy.errors import AibError
    from aib_deploy.media.synthetic import SceneDesign

    images, labels, boxes = make_dataset(8, 96, seed=3)
    same = make_dataset(8, 96, seed=3, design=SceneDesign())
    assert np.array_equal(images, same[0]) and np.array_equal(boxes, same[2])
    busy = make_dataset(8, 96, seed=3, design=SceneDesign(decoys=(2, 3), blobs=(2, 2), texture=40.0))
    assert not np.array_equal(images, busy[0]) and sorted(labels) == sorted(busy[1])
    assert ((busy[2][:, :2] >= 0) & (busy[2][:, 2:] <= 96) & (busy[2][:, 2:] > busy[2][:, :2])).all()
    assert SceneDesign(decoys=(1, 2)).changes() == {"decoys": (1, 2)}
    for bad, knob in (
        ({"min_scale": 0.7, "max_scale": 0.5}, "scale range"),
        ({"decoys": (3, 1)}, "decoys"),
        ({"decoy_colour": "red"}, "decoy_colour"),
    ):
        with pytest.raises(AibError, match=knob):
            SceneDesign(**bad)

"""Preprocessing of frames of any size and channel layout; bad frames fail alone."""

import cv2
import numpy as np
import pytest

from aib_deploy.runtime.preprocess import FrameError, Preprocessor, to_bgr

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


@pytest.fixture
def preprocessor():
    return Preprocessor(32, MEAN, STD)


@pytest.mark.parametrize("shape", [(32, 32, 3), (17, 23, 3), (1, 1, 3), (1080, 1920, 3), (3, 999, 3), (480, 640, 3)])
def test_any_frame_size_becomes_the_input_size(preprocessor, shape):
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = preprocessor.frame(frame)
    assert out.shape == (3, 32, 32) and out.dtype == np.float32


def test_normalization_and_channel_order(preprocessor):
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    out = preprocessor.frame(frame)
    assert np.allclose(out[0], (1 - MEAN[0]) / STD[0], atol=1e-5)
    assert np.allclose(out[1], -MEAN[1] / STD[1], atol=1e-5)


def test_gray_and_bgra_match_their_bgr_equivalents(preprocessor):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(preprocessor.frame(gray), preprocessor.frame(bgr))
    assert np.array_equal(preprocessor.frame(gray[..., None]), preprocessor.frame(bgr))
    bgra = np.dstack([bgr, np.full(gray.shape, 77, np.uint8)])
    assert np.array_equal(preprocessor.frame(bgra), preprocessor.frame(bgr))


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((8, 8, 2), np.uint8), "got shape (8, 8, 2)"),
        (np.zeros((8, 8, 3), np.float32), "expected dtype uint8, got float32"),
        (np.zeros((0, 8, 3), np.uint8), "empty image"),
        (np.zeros((2, 8, 8, 3), np.uint8), "got shape (2, 8, 8, 3)"),
        ([[1, 2]], "expected a numpy array, got list"),
    ],
    ids=["two-channels", "float", "empty", "4d", "list"],
)
def test_bad_frames_name_the_problem(frame, message):
    with pytest.raises(FrameError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_bgr(frame)

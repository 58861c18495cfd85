"""The one parity comparison: tolerances, top-1, and the anchor-midpoint exemption."""

import numpy as np
import pytest

from aib_deploy.compare import Tolerances, compare_outputs, near_midpoint

ANCHORS = np.array([0.0, 0.25, 0.5, 1.0])


def outputs(logits, attention, index=None):
    data = {"logits": np.asarray(logits, dtype=np.float32), "attention": np.asarray(attention, dtype=np.float32)}
    if index is not None:
        data["attention_index"] = np.asarray(index)
    return data


def test_identical_outputs_pass():
    reference = outputs([[1.0, 5.0]], [[0.25, 0.5]], [[1, 2]])
    comparison = compare_outputs(reference, reference)
    assert comparison.passed and comparison.top1_agreement == 1.0 and comparison.index_agreement == 1.0


def test_logit_tolerance_scales_with_the_logits():
    reference = outputs([[100.0, -50.0]], [[0.1]])
    assert compare_outputs(reference, outputs([[100.009, -50.0]], [[0.1]])).passed
    failed = compare_outputs(reference, outputs([[100.02, -50.0]], [[0.1]]))
    assert not failed.passed and abs(failed.logits_tolerance - (1e-4 * 100 + 1e-5)) < 1e-9


def test_attention_difference_fails():
    assert not compare_outputs(outputs([[1.0]], [[0.5]]), outputs([[1.0]], [[0.5001]])).passed


def test_index_flip_at_a_midpoint_is_exempt_elsewhere_it_fails():
    reference = outputs([[1.0]], [[0.25, 0.5]], [[1, 2]])
    flipped = outputs([[1.0]], [[0.5, 0.5]], [[2, 2]])
    at_midpoint = np.array([[0.375, 0.5]])
    exempt = compare_outputs(reference, flipped, attention_mean=at_midpoint, anchors=ANCHORS)
    assert exempt.passed and exempt.index_agreement == 0.5 and exempt.index_mismatches == 0
    not_midpoint = np.array([[0.3, 0.5]])
    failed = compare_outputs(reference, flipped, attention_mean=not_midpoint, anchors=ANCHORS)
    assert not failed.passed and failed.index_mismatches == 1


def test_near_midpoint_margin():
    values = np.array([0.375, 0.375 + 2e-5, 0.75])
    assert near_midpoint(values, ANCHORS, Tolerances().midpoint_margin).tolist() == [True, False, True]


def test_a_plain_model_has_no_index_figures():
    comparison = compare_outputs(outputs([[1.0, 2.0]], [[0.5]]), outputs([[1.0, 2.0]], [[0.5]]))
    assert comparison.passed and comparison.index_agreement is None and comparison.index_mismatches == 0
    assert "attention-index" not in comparison.summary()


def test_top1_disagreement_is_a_figure_not_a_failure_of_its_own():
    reference = outputs([[1.0, 1.0 + 1e-6], [2.0, 0.0]], [[0.1], [0.1]])
    candidate = outputs([[1.0 + 1e-6, 1.0], [2.0, 0.0]], [[0.1], [0.1]])
    comparison = compare_outputs(reference, candidate)
    assert comparison.top1_agreement == 0.5 and comparison.passed  # within the logit tolerance: a tie broken differently


def test_outputs_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match=r"logits shapes differ: \(1, 2\) vs \(1, 3\)"):
        compare_outputs(outputs([[1.0, 2.0]], [[0.5]]), outputs([[1.0, 2.0, 3.0]], [[0.5]]))

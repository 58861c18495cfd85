"""`aib compare`: the demo model's float32 file against its INT8 and fp16 files and its checkpoint."""

import pytest

from aib_deploy.demo.run import bundled_checkpoint
from tests.helpers.checkpoint_files import case_group
from tests.helpers.cli import assert_error_after_progress, assert_one_line_error, call_aib

NO_GATE = ("--fail-under", "top1=0,index=0")


def agreement_line(result) -> str:
    assert result.returncode == 0, result.stderr
    (line,) = [text for text in result.stdout.splitlines() if "held-out frames" in text]
    return line


def test_float32_against_the_checkpoint_is_exact(demo_onnx):
    line = agreement_line(call_aib("compare", bundled_checkpoint(), demo_onnx, "--count", "64"))
    assert "64 held-out frames: top-1 agreement 100.00%, attention-index agreement 100.00% exact" in line


def test_float32_against_fp16_meets_the_default_gate(demo_onnx, demo_fp16):
    line = agreement_line(call_aib("compare", demo_onnx, demo_fp16, "--count", "200"))
    assert "top-1 agreement" in line and "within one anchor step" in line


def test_float32_against_int8_reports_and_gates(demo_onnx, demo_int8):
    line = agreement_line(call_aib("compare", demo_onnx, demo_int8, "--count", "64", *NO_GATE))
    assert "max|logit diff|" in line
    strict = call_aib("compare", demo_onnx, demo_int8, "--count", "64", "--fail-under", "top1=1,index=1")
    assert_error_after_progress(strict, "below the gate (--fail-under top1=1,index=1)")


@pytest.mark.xdist_group(case_group("vgg_aib_cifar10"))  # on the worker that exports that case anyway
def test_models_of_different_architectures_are_refused(demo_onnx, case_onnx):
    other = case_onnx("vgg_aib_cifar10").path
    assert_one_line_error(call_aib("compare", demo_onnx, other), "not comparable", "architecture")

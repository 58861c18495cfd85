"""The PyTorch backend in fp16 with the snap in float32, on the CPU, for each family's attention head."""

import numpy as np
import pytest

from aib_deploy.backends.pytorch import TorchRunner
from aib_deploy.compare import compare_outputs
from aib_deploy.demo.run import bundled_checkpoint

# PyTorch's CPU float16 convolutions are slow (9 s per VGG image here): the demo on 32 images, one more head shape
# on one image.
CASES = ["vgg_aib_qt_cifar100"]


@pytest.mark.parametrize("name", ["demo", *CASES])
def test_fp16_keeps_anchor_values_exact_and_agrees_with_fp32(name, case_checkpoint):
    checkpoint = bundled_checkpoint() if name == "demo" else case_checkpoint(name)
    with TorchRunner(checkpoint, device="cpu") as reference, TorchRunner(checkpoint, device="cpu", precision="fp16") as half:
        size = reference.card.input_size
        images = np.random.default_rng(0).standard_normal((32 if name == "demo" else 1, 3, size, size), dtype=np.float32)
        expected, got = reference.infer(images), half.infer(images)
        anchors = np.asarray(half.card.anchors, np.float32)
    assert half.label == "pytorch-cpu fp16" and got["logits"].dtype == np.float32
    assert np.array_equal(got["attention"], anchors[got["attention_index"]])  # snapped in float32: exact anchors
    comparison = compare_outputs(expected, got)
    steps = np.abs(got["attention_index"].astype(np.int64) - expected["attention_index"].astype(np.int64))
    assert steps.max() <= 1  # float16 moves a value at most to the next anchor, as `aib export fp16` gates it
    assert comparison.index_agreement >= (0.95 if name == "demo" else 0.9), comparison.summary()
    if name == "demo":
        assert comparison.top1_agreement >= 0.5, comparison.summary()


def test_cuda_graphs_need_cuda():
    from aib_deploy.errors import AibError

    with pytest.raises(AibError, match="CUDA graphs need a CUDA device"):
        TorchRunner(bundled_checkpoint(), device="cpu", cuda_graphs=True).activate()


def test_an_unknown_precision_is_refused():
    from aib_deploy.errors import AibError

    with pytest.raises(AibError, match="expected one of fp32, tf32, fp16"):
        TorchRunner(bundled_checkpoint(), precision="int4")

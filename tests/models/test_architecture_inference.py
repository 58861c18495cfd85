"""Architecture inference from key names and shapes, beyond the conformance cases."""

import pytest
import torch

from aib_deploy.card.architecture import Architecture
from aib_deploy.errors import AibError
from aib_deploy.models import build_model, infer_architecture

ARCHITECTURES = [
    Architecture("wrn_cifar", num_classes=100, K=512, depth=28, widen_factor=10),
    Architecture("wrn_cifar", num_classes=10, K=64, depth=10, widen_factor=1, quantized=True, qt_num=8),
    Architecture("wrn_cifar", num_classes=200, K=256, depth=22, widen_factor=3, quantized=True, qt_num=50),
    Architecture("vgg_cifar", num_classes=37, K=128),
    Architecture("cub", backbone="vgg16", num_classes=200, K=256, quantized=True, qt_num=20, attention_convs=3),
    Architecture("cub", backbone="vgg16", num_classes=12, K=64),
]


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda arch: arch.name)
def test_architecture_round_trips_through_a_state_dict(arch):
    model = build_model(arch)
    assert infer_architecture(model.state_dict()) == arch


def test_wrn_28_10_matches_the_paper_size():
    model = build_model(ARCHITECTURES[0])
    with torch.no_grad():
        outputs = model.deterministic(torch.zeros(2, 3, 32, 32))
    assert outputs.logits.shape == (2, 100) and outputs.attention.shape == (2, 1, 16, 16)
    assert outputs.anchor_index is None


def test_unknown_keys_infer_nothing():
    assert infer_architecture({"fc.weight": torch.zeros(2, 2)}) is None


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(family="resnet", num_classes=10, K=8), "unknown family"),
        (dict(family="wrn_cifar", num_classes=10, K=8, depth=17, widen_factor=1), r"6n\+4"),
        (dict(family="cub", backbone="resnet18", num_classes=10, K=8), "backbone"),
        (dict(family="vgg_cifar", num_classes=10, K=8, quantized=True), "qt_num"),
    ],
)
def test_invalid_architectures_are_refused(settings, message):
    with pytest.raises(AibError, match=message):
        Architecture(**settings)

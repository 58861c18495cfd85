"""Dataset presets and explicit overrides."""

import pytest

from aib_deploy.card.presets import CIFAR10_LABELS, NORMALIZATION, resolve_preprocessing
from aib_deploy.errors import AibError


def test_vgg_and_wrn_cifar_use_their_own_normalization():
    vgg = resolve_preprocessing("vgg_cifar", 10)
    wrn = resolve_preprocessing("wrn_cifar", 10)
    assert vgg.dataset == wrn.dataset == "cifar10" and vgg.labels == CIFAR10_LABELS
    assert vgg.mean == NORMALIZATION["vgg_cifar"][0] and wrn.mean == NORMALIZATION["wrn_cifar"][0]
    assert vgg.mean != wrn.mean


def test_dataset_hint_from_the_checkpoint_args():
    assert resolve_preprocessing("vgg_cifar", 100, dataset_hint="CIFAR100").dataset == "cifar100"
    assert resolve_preprocessing("vgg_cifar", 100, dataset_hint="SVHN").dataset == "cifar100"


def test_cub_and_custom_labels_are_generic_unless_given():
    cub = resolve_preprocessing("cub", 200)
    assert cub.dataset == "cub" and cub.labels[0] == "class_000" and len(cub.labels) == 200
    assert resolve_preprocessing("wrn_cifar", 7).dataset == "custom"
    assert resolve_preprocessing("wrn_cifar", 2, labels=("cat", "dog")).labels == ("cat", "dog")


def test_overrides_win():
    chosen = resolve_preprocessing("cub", 200, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    assert chosen.mean == (0.5, 0.5, 0.5) and chosen.std == (0.2, 0.2, 0.2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dataset="imagenet"), "unknown dataset 'imagenet'"),
        (dict(dataset="cifar100"), "cifar100 has 100 classes but the model predicts 10"),
        (dict(labels=("a",)), "1 labels given but the model predicts 10"),
        (dict(std=(1.0, 0.0, 1.0)), "--std: values must be positive"),
    ],
)
def test_bad_presets_are_refused(kwargs, message):
    with pytest.raises(AibError, match=message):
        resolve_preprocessing("vgg_cifar", 10, **kwargs)

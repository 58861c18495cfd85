"""Model cards built in memory, for the pure functions that read only a card (no model file needed)."""

from __future__ import annotations

from aib_deploy.card.architecture import Architecture
from aib_deploy.card.model_card import ModelCard


def make_card(num_classes: int = 3, anchors: int | None = 4, max_batch: int | None = 8) -> ModelCard:
    """A VGG-CIFAR card: quantized with `anchors` anchors, or plain with None."""
    arch = Architecture("vgg_cifar", num_classes, K=256, quantized=anchors is not None, qt_num=anchors)
    return ModelCard(
        architecture=arch,
        dataset="custom",
        labels=tuple(f"class_{index}" for index in range(num_classes)),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        anchors=None if anchors is None else tuple(index / anchors for index in range(anchors)),
        checkpoint_sha256="0" * 64,
        checkpoint_weights="net",
        aib_deploy_version="test",
        opset=18,
        max_batch=max_batch,
    )

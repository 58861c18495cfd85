"""VGG-16 (batch norm) AIB for 32x32 CIFAR images.

Original classes: `Vgg16_bn_lrn_VANet` and `Vgg16_bn_lrn_VANet_QT` (the paper's
VGG-backbone-32 code). Attention is computed on the 256x16x16 output of the
first three conv blocks; the encoder holds the remaining blocks.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..card.architecture import Architecture
from .aib import AibNet, anchor_settings, attention_scale_head, two_layer_decoder
from .registry import register_family

FAMILY = "vgg_cifar"
FEATURE_CHANNELS = 256
ENCODER_CHANNELS = 512


class ConvBlock(nn.Module):
    """`num_conv` x (conv 3x3, batch norm, ReLU), each optionally followed by a 2x2 max-pool."""

    def __init__(self, in_channels: int, out_channels: int, num_conv: int, pool: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(num_conv):
            layers += [
                nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
    """The architecture a VGG-CIFAR state dict describes, or None if it is another family."""
    if "features.0.op.0.weight" not in state_dict or "decode.2.weight" not in state_dict:
        return None
    return Architecture(
        family=FAMILY,
        num_classes=state_dict["decode.2.weight"].shape[0],
        K=state_dict["decode.0.weight"].shape[1],
        **anchor_settings(state_dict),
    )


@register_family("vgg_cifar", family=FAMILY, reader=architecture_from_state_dict)
class VggCifarAib(AibNet):
    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        self.add_anchor_quantizer()
        self.features = nn.Sequential(
            ConvBlock(3, 64, 2),
            ConvBlock(64, 128, 2),
            ConvBlock(128, FEATURE_CHANNELS, 3),
            nn.MaxPool2d(2, 2),
        )
        self.encode = nn.Sequential(
            ConvBlock(FEATURE_CHANNELS, ENCODER_CHANNELS, 3),
            nn.MaxPool2d(2, 2),
            ConvBlock(ENCODER_CHANNELS, ENCODER_CHANNELS, 3),
            nn.MaxPool2d(2, 2),
            ConvBlock(ENCODER_CHANNELS, ENCODER_CHANNELS, 2, pool=True),
            nn.Conv2d(ENCODER_CHANNELS, ENCODER_CHANNELS, 1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(ENCODER_CHANNELS, 2 * arch.K),
        )
        self.att_module_mu = nn.Sequential(nn.Conv2d(FEATURE_CHANNELS, 1, 3, padding=1), nn.Sigmoid())
        self.att_module_std = attention_scale_head()
        self.decode = two_layer_decoder(arch)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

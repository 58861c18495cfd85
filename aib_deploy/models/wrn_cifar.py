"""Wide-ResNet AIB for 32x32 CIFAR images, any depth 6n+4 and widen factor.

Original classes: `WideResNet` and `WideResNet_QT` (the paper's
WRN-backbone-32 code). Attention is computed from the output of the second
group by a copy of the third group run at stride 1 (`att_block3`); the encoder
reuses the real third group, so `block3` is also reachable as `encode.0` and
the attention layers as `att_module_mu.*`, as in the original state dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from ..card.architecture import Architecture
from .aib import AibNet, anchor_settings, attention_scale_head
from .registry import register_family

FAMILY = "wrn_cifar"
STEM_CHANNELS = 16


class BasicBlock(nn.Module):
    """Pre-activation residual block; a 1x1 shortcut when the width changes."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(activated))))
        # The original shortcut takes the activated input only when widths differ.
        shortcut = x if self.equal_in_out else self.convShortcut(activated)
        return shortcut + out


class NetworkBlock(nn.Module):
    def __init__(self, num_layers: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            *(
                BasicBlock(in_planes if index == 0 else out_planes, out_planes, stride if index == 0 else 1)
                for index in range(num_layers)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
    """The architecture a WRN-CIFAR state dict describes, or None if it is another family."""
    if "block1.layer.0.conv1.weight" not in state_dict or "decode.1.weight" not in state_dict:
        return None
    blocks_per_group = len({m.group(1) for k in state_dict if (m := re.match(r"block1\.layer\.(\d+)\.", k))})
    first_width = state_dict["block1.layer.0.conv1.weight"].shape[0]
    return Architecture(
        family=FAMILY,
        num_classes=state_dict["decode.1.weight"].shape[0],
        K=state_dict["decode.1.weight"].shape[1],
        **anchor_settings(state_dict),
        depth=6 * blocks_per_group + 4,
        widen_factor=max(1, first_width // STEM_CHANNELS),
    )


@register_family("wrn_cifar", family=FAMILY, reader=architecture_from_state_dict)
class WrnCifarAib(AibNet):
    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        blocks_per_group = (arch.depth - 4) // 6
        widths = [STEM_CHANNELS * arch.widen_factor * scale for scale in (1, 2, 4)]
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 3, padding=1, bias=False)
        self.block1 = NetworkBlock(blocks_per_group, STEM_CHANNELS, widths[0], 1)
        self.block2 = NetworkBlock(blocks_per_group, widths[0], widths[1], 2)
        self.block3 = NetworkBlock(blocks_per_group, widths[1], widths[2], 2)
        self.bn1 = nn.BatchNorm2d(widths[2])
        self.relu = nn.ReLU(inplace=True)
        self.att_block3 = NetworkBlock(blocks_per_group, widths[1], widths[2], 1)
        self.bn_att = nn.BatchNorm2d(widths[2])
        self.att_conv = nn.Conv2d(widths[2], arch.num_classes, 1, bias=False)
        self.bn_att2 = nn.BatchNorm2d(arch.num_classes)
        self.att_conv3 = nn.Conv2d(arch.num_classes, 1, 3, padding=1, bias=False)
        self.bn_att3 = nn.BatchNorm2d(1)
        self.sigmoid = nn.Sigmoid()
        self.att_module_mu = nn.Sequential(
            self.att_block3,
            self.bn_att,
            self.att_conv,
            self.bn_att2,
            self.relu,
            self.att_conv3,
            self.bn_att3,
            self.sigmoid,
        )
        self.att_module_std = attention_scale_head()
        self.encode = nn.Sequential(
            self.block3,
            self.bn1,
            self.relu,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(widths[2], 2 * arch.K),
        )
        self.decode = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(arch.K, arch.num_classes))
        self.add_anchor_quantizer()

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(self.conv1(x)))

"""Wide-ResNet-50-2 AIB for 224x224 CUB-200 images.

Original classes: `VaNet_wrn` (plain) and its `_qt` twin (CUB-experiments code),
built on torchvision's `wide_resnet50_2`. Attention comes from the 1024x14x14
output of `layer3` through a stride-1 copy of `layer4` (`att_layer4`); the
encoder reuses the real `layer4`, so it is also stored as `encode.0`, and
`att_layer4` as `att_module_mu.0`. The original also registers `tmp_layer`, a
leftover its forward never runs: it is kept only so checkpoints load as they are.
Rebuilt here without torchvision; key names match torchvision's.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..card.architecture import Architecture
from .aib import AibNet, anchor_settings, attention_scale_head, two_layer_decoder
from .registry import register_family

FAMILY = "cub"
BACKBONE = "wrn_50_2"
EXPANSION = 4
WIDTH_MULTIPLIER = 2  # wide_resnet50_2: bottleneck width = 2 x planes
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (planes, blocks, stride)
UNUSED_PREFIX = "tmp_layer."


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 convolution)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width = planes * WIDTH_MULTIPLIER
        out_planes = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_planes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def make_stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_planes, planes, stride)]
    layers += [Bottleneck(planes * EXPANSION, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
    """The architecture a CUB WRN-50-2 state dict describes, or None if it is another family."""
    if "layer1.0.conv1.weight" not in state_dict or "decode.2.weight" not in state_dict:
        return None
    return Architecture(
        family=FAMILY,
        backbone=BACKBONE,
        num_classes=state_dict["decode.2.weight"].shape[0],
        K=state_dict["decode.0.weight"].shape[1],
        **anchor_settings(state_dict),
    )


def checkpoint_filter_fn(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Let checkpoints without the never-run `tmp_layer` load: keep the model's own values."""
    if any(key.startswith(UNUSED_PREFIX) for key in state_dict):
        return state_dict
    own = {k: v for k, v in model.state_dict().items() if k.startswith(UNUSED_PREFIX)}
    return {**state_dict, **own}


@register_family(
    "cub_wrn_50_2", family=FAMILY, backbone=BACKBONE, reader=architecture_from_state_dict, checkpoint_filter=checkpoint_filter_fn
)
class CubWrn50x2Aib(AibNet):
    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        self.add_anchor_quantizer()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_planes = 64
        for index, (planes, blocks, stride) in enumerate(STAGES, start=1):
            setattr(self, f"layer{index}", make_stage(in_planes, planes, blocks, stride))
            in_planes = planes * EXPANSION
        planes, blocks, _ = STAGES[2]
        self.tmp_layer = make_stage(STAGES[1][0] * EXPANSION, planes, blocks, 1)
        planes, blocks, _ = STAGES[3]
        self.att_layer4 = make_stage(STAGES[2][0] * EXPANSION, planes, blocks, 1)
        channels = planes * EXPANSION
        self.encode = nn.Sequential(self.layer4, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 2 * arch.K))
        self.att_module_mu = nn.Sequential(self.att_layer4, nn.Conv2d(channels, 1, 3, padding=1), nn.Sigmoid())
        self.att_module_std = attention_scale_head()
        self.decode = two_layer_decoder(arch)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))

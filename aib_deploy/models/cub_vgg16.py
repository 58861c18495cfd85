"""VGG-16 AIB for 224x224 CUB-200 images.

Original classes: `VaNet_vgg` (plain) and its `_qt` twin (CUB-experiments code),
built on torchvision's `vgg16().features[:-1]` (no BN, last max-pool dropped,
so the 512x14x14 map feeds the attention head). Rebuilt here without
torchvision; key names match torchvision's layer indices.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from ..card.architecture import Architecture
from .aib import AibNet, anchor_settings, attention_scale_head, two_layer_decoder
from .registry import register_family

FAMILY = "cub"
BACKBONE = "vgg16"

# torchvision's VGG-16 configuration "D" without its final max-pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
FEATURE_CHANNELS = 512
POOLED_SIDE = 3


def vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            in_channels = item
    return nn.Sequential(*layers)


def adaptive_average_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """Rows average the windows PyTorch's adaptive average pooling uses.

    14 -> 3 windows overlap ([0,5), [4,10), [9,14)), which the TorchScript ONNX
    exporter refuses; two matrix products export everywhere, TensorRT included.
    """
    matrix = torch.zeros(out_size, in_size)
    for row in range(out_size):
        start = (row * in_size) // out_size
        end = -((-(row + 1) * in_size) // out_size)
        matrix[row, start:end] = 1.0 / (end - start)
    return matrix


class AdaptiveAvgPool2dAsMatmul(nn.Module):
    """`nn.AdaptiveAvgPool2d((out, out))` for a fixed input side, without parameters in the state dict."""

    def __init__(self, in_size: int, out_size: int) -> None:
        super().__init__()
        self.register_buffer("rows", adaptive_average_matrix(in_size, out_size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows @ x @ self.rows.T


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
    """The architecture a CUB VGG-16 state dict describes, or None if it is another family."""
    if "features.0.weight" not in state_dict or "decode.2.weight" not in state_dict:
        return None
    head_convs = {int(m.group(1)) for k in state_dict if (m := re.match(r"att_module_mu\.(\d+)\.weight$", k))}
    return Architecture(
        family=FAMILY,
        backbone=BACKBONE,
        num_classes=state_dict["decode.2.weight"].shape[0],
        K=state_dict["decode.0.weight"].shape[1],
        **anchor_settings(state_dict),
        attention_convs=max(0, len(head_convs) - 1),
    )


@register_family("cub_vgg16", family=FAMILY, backbone=BACKBONE, reader=architecture_from_state_dict)
class CubVgg16Aib(AibNet):
    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        self.add_anchor_quantizer()
        self.features = vgg16_features()
        self.encode = nn.Sequential(
            AdaptiveAvgPool2dAsMatmul(arch.att_dim, POOLED_SIDE),
            nn.Flatten(),
            nn.Linear(FEATURE_CHANNELS * POOLED_SIDE * POOLED_SIDE, 2 * arch.K),
        )
        head: list[nn.Module] = []
        for _ in range(arch.attention_convs):
            head += [nn.Conv2d(FEATURE_CHANNELS, FEATURE_CHANNELS, 3, padding=1), nn.ReLU(inplace=True)]
        self.att_module_mu = nn.Sequential(*head, nn.Conv2d(FEATURE_CHANNELS, 1, 3, padding=1), nn.Sigmoid())
        self.att_module_std = attention_scale_head()
        self.decode = two_layer_decoder(arch)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

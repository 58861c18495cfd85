"""The attention information bottleneck shared by every AIB family.

Lai et al., "Information Bottleneck Approach to Spatial Attention Learning",
IJCAI 2021. Every family computes a feature map f, an attention mean
a = sigmoid(conv(f)) of shape (N, 1, A, A), applies it residually
(f + f * a), encodes the result into the mean and raw scale of a latent z of
width K, and decodes z into class logits. Quantized ("qt") models snap each
attention value to the nearest of `qt_num` learned anchors.

Two inference modes:
- deterministic (deployment): attention = its mean, snapped for quantized
  models; z = its mean. The attention-scale branch and the scale half of the
  encoder's last layer are never computed.
- stochastic (the paper's evaluation): attention ~ N(a, softplus(s_a - 5)) and
  z ~ N(mu, softplus(s_z - 5)); logits are averaged over num_avg x num_avg
  (attention, z) sample pairs, as the original code does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..card.architecture import Architecture
from ..contract import OUTPUT_NAMES

# The original code shifts every raw scale by this before softplus.
SCALE_SHIFT = 5.0


class AibOutputs(NamedTuple):
    """Outputs of one forward pass; `anchor_index` is None for plain models."""

    logits: torch.Tensor
    attention_mean: torch.Tensor
    attention: torch.Tensor
    anchor_index: torch.Tensor | None

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The ONNX contract's outputs by name, as numpy arrays (the index as int32, as exported)."""
        tensors = [self.logits, self.attention]
        if self.anchor_index is not None:
            tensors.append(self.anchor_index.to(torch.int32))
        return {name: tensor.detach().cpu().numpy() for name, tensor in zip(OUTPUT_NAMES, tensors)}


class SampledOutputs(NamedTuple):
    """One sampled pass: logits per (z sample, attention sample, image), and what the loss needs."""

    logits: torch.Tensor
    attention_mean: torch.Tensor
    attention_samples: torch.Tensor
    attention: torch.Tensor
    latent_mean: torch.Tensor
    latent_scale: torch.Tensor


class AnchorQuantizer(nn.Module):
    """The learned attention anchors, stored as `emb.weight` of shape (1, qt_num)."""

    def __init__(self, qt_num: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.0, 1.0, qt_num).unsqueeze(0))

    @property
    def anchors(self) -> torch.Tensor:
        return self.weight.reshape(-1)

    def snap(self, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest anchor of every value: (snapped values, anchor indices)."""
        anchors = self.anchors
        distance = (attention.unsqueeze(-1) - anchors).pow(2)
        index = distance.argmin(dim=-1)
        return anchors.index_select(0, index.flatten()).view(index.shape), index


def attention_scale_head() -> nn.Sequential:
    """`att_module_std`: the raw scale of the attention distribution, from its mean."""
    return nn.Sequential(nn.Conv2d(1, 1, 3, padding=1))


def two_layer_decoder(arch: Architecture) -> nn.Sequential:
    """The decoder of the VGG and CUB families: Linear(K, K), ReLU, Linear(K, classes)."""
    return nn.Sequential(nn.Linear(arch.K, arch.K), nn.ReLU(inplace=True), nn.Linear(arch.K, arch.num_classes))


def anchor_settings(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """`quantized` and `qt_num` as a state dict's `emb.weight` (1, qt_num) tells them."""
    emb = state_dict.get("emb.weight")
    return {"quantized": emb is not None, "qt_num": emb.shape[-1] if emb is not None else None}


class Float32Sigmoid(nn.Module):
    """The attention mean in float32 whatever its input's type, so fp16 rounding moves no anchor by itself."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())


class AibNet(nn.Module):
    """Base of every family: subclasses build the modules under their original
    names and implement `extract_features`; this class owns the bottleneck.

    Subclasses must define `att_module_mu`, `att_module_std`, `encode` (an
    `nn.Sequential` ending in the `Linear(C, 2K)` that yields mu and the raw
    scale) and `decode`, and call `add_anchor_quantizer`.
    """

    emb: AnchorQuantizer
    att_module_mu: nn.Module
    att_module_std: nn.Module
    encode: nn.Sequential
    decode: nn.Sequential

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch

    def add_anchor_quantizer(self) -> None:
        """Register `emb` if the architecture is quantized.

        Each family calls this where the paper's class creates its quantizer: that
        position fixes the order of the state-dict keys, which must match the original.
        """
        if self.arch.quantized:
            self.emb = AnchorQuantizer(self.arch.qt_num)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> AibOutputs:
        return self.deterministic(x)

    def deterministic(self, x: torch.Tensor) -> AibOutputs:
        features = self.extract_features(x)
        attention_mean = self.att_module_mu(features)
        attention, anchor_index = self._quantize(attention_mean)
        trunk = self._encode_trunk(self._attend(features, attention))
        head = self._encoder_head
        latent_mean = F.linear(trunk, head.weight[: self.arch.K], head.bias[: self.arch.K])
        return AibOutputs(self.decode(latent_mean), attention_mean, attention, anchor_index)

    def to_fp16_with_float32_snap(self) -> AibNet:
        """This model in float16, as `aib export fp16` makes the ONNX file: the backbone and the attention
        head's convolutions in float16; the sigmoid, the snap and the anchor table in float32; the attended
        features back to float16 for the encoder. For inference only (the deterministic path)."""
        table = self.emb.weight.data.clone() if self.arch.quantized else None  # half() would round the anchors
        self.half()
        heads = list(self.att_module_mu)
        if not isinstance(heads[-1], nn.Sigmoid):
            raise TypeError(f"{type(self).__name__}: the attention head does not end in a Sigmoid")
        self.att_module_mu[len(heads) - 1] = Float32Sigmoid()
        if table is not None:
            self.emb.weight.data = table
        next(iter(self.encode)).register_forward_pre_hook(lambda module, args: (args[0].half(), *args[1:]))
        return self

    def sample(self, x: torch.Tensor, num_avg: int = 1, generator: torch.Generator | None = None) -> SampledOutputs:
        """Draw num_avg attention maps per image, then num_avg latents per attended map.

        In training mode the anchor snap passes gradients straight through, as
        the original VectorQuantizer does.
        """
        batch = x.shape[0]
        features = self.extract_features(x)
        attention_mean = self.att_module_mu(features)
        attention_scale = F.softplus(self.att_module_std(attention_mean) - SCALE_SHIFT)
        noise = torch.randn((num_avg, *attention_mean.shape), generator=generator, dtype=x.dtype, device=x.device)
        attention_samples = (attention_mean + noise * attention_scale).flatten(0, 1)
        attention, _ = self._quantize(attention_samples)
        attended = self._attend(features.repeat(num_avg, 1, 1, 1), attention)
        statistics = self._encoder_head(self._encode_trunk(attended))
        latent_mean, raw_scale = statistics[:, : self.arch.K], statistics[:, self.arch.K :]
        latent_scale = F.softplus(raw_scale - SCALE_SHIFT)
        noise = torch.randn((num_avg, *latent_mean.shape), generator=generator, dtype=x.dtype, device=x.device)
        latents = (latent_mean + noise * latent_scale).view(num_avg, num_avg, batch, self.arch.K)
        return SampledOutputs(self.decode(latents), attention_mean, attention_samples, attention, latent_mean, latent_scale)

    def stochastic(self, x: torch.Tensor, num_avg: int, generator: torch.Generator | None = None) -> AibOutputs:
        """The paper's sampled evaluation; `attention` is the mean of the sampled maps."""
        sampled = self.sample(x, num_avg, generator)
        attention = sampled.attention.view(num_avg, *sampled.attention_mean.shape).mean(dim=0)
        return AibOutputs(sampled.logits.mean(dim=(0, 1)), sampled.attention_mean, attention, None)

    def _quantize(self, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.arch.quantized:
            return attention, None
        snapped, index = self.emb.snap(attention)
        if self.training:
            snapped = attention + (snapped - attention).detach()
        return snapped, index

    @staticmethod
    def _attend(features: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        # The attention map always has the feature map's size in these
        # architectures, so the original nearest-neighbour resize is the identity.
        return features + features * attention

    def _encode_trunk(self, attended: torch.Tensor) -> torch.Tensor:
        for layer in list(self.encode)[:-1]:
            attended = layer(attended)
        return attended

    @property
    def _encoder_head(self) -> nn.Linear:
        return self.encode[-1]

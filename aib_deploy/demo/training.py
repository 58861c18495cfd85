"""The paper's training objective, for the demo model.

loss = cross-entropy + beta * KL(q(z|x) || N(0, I))
       + vq_coef * anchor loss + commit_coef * commitment loss

As in the original code, q(z|x) is N(mu, exp(softplus(s - 5))): the scale
passes through exp once more when the KL is formed. The anchor loss pulls the
anchors towards the sampled attention values; the commitment loss pulls the
attention towards its anchors (VQ-VAE, van den Oord et al. 2017).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..models import AibNet


class LossTerms(NamedTuple):
    total: torch.Tensor
    cross_entropy: torch.Tensor
    kl: torch.Tensor
    anchor: torch.Tensor
    commitment: torch.Tensor
    logits: torch.Tensor


def init_like_wrn_original(model: nn.Module) -> None:
    """The WRN code's initialisation: conv ~ N(0, 2 / (k*k*out)), BN (1, 0), linear bias 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)


def gaussian_kl_to_standard(mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, scale^2) || N(0, 1)) summed over the last axis."""
    return (0.5 * (scale.pow(2) + mean.pow(2) - 1) - scale.log()).sum(dim=-1)


def aib_loss(
    model: AibNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 1e-2,
    vq_coef: float = 0.4,
    commit_coef: float = 0.1,
    generator: torch.Generator | None = None,
) -> LossTerms:
    """One sampled pass (num_sample = 1, as the paper trains) and its loss terms."""
    sampled = model.sample(images, num_avg=1, generator=generator)
    logits = sampled.logits[0, 0]
    cross_entropy = F.cross_entropy(logits, labels)
    kl = gaussian_kl_to_standard(sampled.latent_mean, sampled.latent_scale.exp()).mean()
    anchor = commitment = torch.zeros((), device=images.device)
    if model.arch.quantized:
        snapped, _ = model.emb.snap(sampled.attention_samples)
        anchor = F.mse_loss(snapped, sampled.attention_samples.detach())
        commitment = F.mse_loss(sampled.attention_samples, snapped.detach())
    total = cross_entropy + beta * kl + vq_coef * anchor + commit_coef * commitment
    return LossTerms(total, cross_entropy, kl, anchor, commitment, logits)

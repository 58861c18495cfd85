"""PyTorch AIB models, one family per module, and their registry.

Importing this package imports torch; the serving path never does.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ..card.architecture import Architecture
from . import cub_vgg16, cub_wrn50_2, vgg_cifar, wrn_cifar
from .aib import AibNet, AibOutputs

__all__ = ["AibNet", "AibOutputs", "build_model", "infer_architecture", "family_filter"]

_ARCHITECTURE_READERS = (
    vgg_cifar.architecture_from_state_dict,
    wrn_cifar.architecture_from_state_dict,
    cub_vgg16.architecture_from_state_dict,
    cub_wrn50_2.architecture_from_state_dict,
)


def build_model(arch: Architecture) -> AibNet:
    """A freshly initialised model of `arch`, in eval mode."""
    if arch.family == "vgg_cifar":
        model: AibNet = vgg_cifar.VggCifarAib(arch)
    elif arch.family == "wrn_cifar":
        model = wrn_cifar.WrnCifarAib(arch)
    elif arch.backbone == "vgg16":
        model = cub_vgg16.CubVgg16Aib(arch)
    else:
        model = cub_wrn50_2.CubWrn50x2Aib(arch)
    return model.eval()


def infer_architecture(state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
    """The architecture whose key names and shapes `state_dict` has, or None if none matches."""
    for read in _ARCHITECTURE_READERS:
        arch = read(state_dict)
        if arch is not None:
            return arch
    return None


def family_filter(arch: Architecture) -> Callable[[dict, AibNet], dict] | None:
    """The family's checkpoint remapping function, if it needs one."""
    if arch.family == "cub" and arch.backbone == "wrn_50_2":
        return cub_wrn50_2.checkpoint_filter_fn
    return None

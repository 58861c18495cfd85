"""PyTorch AIB models, one family per module; each registers itself in `registry` when imported.

Importing this package imports torch; the serving path never does.
"""

from __future__ import annotations

from . import cub_vgg16, cub_wrn50_2, vgg_cifar, wrn_cifar  # noqa: F401  (imported so that they register)
from .aib import AibNet, AibOutputs
from .registry import MODEL_FAMILIES, build_model, family_filter, infer_architecture, register_family

__all__ = [
    "MODEL_FAMILIES",
    "AibNet",
    "AibOutputs",
    "build_model",
    "family_filter",
    "infer_architecture",
    "register_family",
]

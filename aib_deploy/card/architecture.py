"""The numbers that define one AIB network, independent of PyTorch.

An `Architecture` is what checkpoint inspection infers, what the model builders
take, and what the ONNX model card records, so serving code can read it without
importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import AibError

FAMILIES = ("vgg_cifar", "wrn_cifar", "cub")
CUB_BACKBONES = ("vgg16", "wrn_50_2")


@dataclass(frozen=True)
class Architecture:
    """Constructor settings of an AIB model, named as in the conformance cases.

    `K` is the width of the latent z; `qt_num` the number of attention anchors
    (quantized models only); `att_dim` the side of the square attention map.
    `attention_convs` counts the 512->512 convolutions in front of CUB-VGG's
    attention head (0 in the plain paper model, 3 in its quantized one).
    """

    family: str
    num_classes: int
    K: int
    quantized: bool = False
    qt_num: int | None = None
    backbone: str | None = None
    depth: int | None = None
    widen_factor: int | None = None
    attention_convs: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise AibError(f"architecture: unknown family {self.family!r}; expected one of {', '.join(FAMILIES)}")
        if self.family == "cub" and self.backbone not in CUB_BACKBONES:
            raise AibError(f"architecture: CUB backbone {self.backbone!r} unknown; expected one of {', '.join(CUB_BACKBONES)}")
        if self.family == "wrn_cifar" and (self.depth is None or (self.depth - 4) % 6 or self.depth < 10):
            raise AibError(f"architecture: WRN depth must be 6n+4 with n >= 1, got {self.depth}")
        if self.family == "wrn_cifar" and (self.widen_factor is None or self.widen_factor < 1):
            raise AibError(f"architecture: WRN widen factor must be a positive integer, got {self.widen_factor}")
        if self.quantized and (self.qt_num is None or self.qt_num < 1):
            raise AibError(f"architecture: a quantized model needs qt_num >= 1, got {self.qt_num}")

    @property
    def input_size(self) -> int:
        return 224 if self.family == "cub" else 32

    @property
    def att_dim(self) -> int:
        return 14 if self.family == "cub" else 16

    @property
    def name(self) -> str:
        """A variant name in the timm style: family, size, then `_qt` when quantized."""
        if self.family == "wrn_cifar":
            base = f"wrn_cifar_{self.depth}_{self.widen_factor}"
        elif self.family == "cub":
            base = f"cub_{self.backbone}"
        else:
            base = "vgg_cifar"
        return base + ("_qt" if self.quantized else "")

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out.update(input_size=self.input_size, att_dim=self.att_dim, name=self.name)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

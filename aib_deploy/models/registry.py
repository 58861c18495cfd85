"""The model-family registry, as timm's `@register_model`: each family module registers its model class once.

`build_model`, `infer_architecture` and `family_filter` read the registry, so a
new family is one new module plus its import in `models/__init__.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch

from ..card.architecture import Architecture
from ..errors import AibError
from .aib import AibNet

ArchitectureReader = Callable[[Mapping[str, torch.Tensor]], Architecture | None]
CheckpointFilter = Callable[[dict[str, torch.Tensor], AibNet], dict[str, torch.Tensor]]
Model = TypeVar("Model", bound=AibNet)


@dataclass(frozen=True)
class ModelFamily:
    """One registered family: the architectures it claims, how to build them and how to read their checkpoints.

    It claims every `Architecture` of `family` whose backbone is `backbone`; a
    family with one backbone leaves `backbone` None and claims whatever it says.
    """

    name: str
    model_class: type[AibNet]
    family: str
    backbone: str | None
    read_architecture: ArchitectureReader
    checkpoint_filter: CheckpointFilter | None = None

    def claims(self, arch: Architecture) -> bool:
        return arch.family == self.family and self.backbone in (None, arch.backbone)

    def overlaps(self, other: ModelFamily) -> bool:
        """Whether some architecture would be claimed by both, so one of them could never be built."""
        return self.family == other.family and (None in (self.backbone, other.backbone) or self.backbone == other.backbone)


class FamilyRegistry:
    """Families by name, in registration order; tests build their own to leave the global one alone."""

    def __init__(self) -> None:
        self._families: dict[str, ModelFamily] = {}

    def __iter__(self) -> Iterator[ModelFamily]:
        return iter(self._families.values())

    def names(self) -> list[str]:
        return list(self._families)

    def add(self, entry: ModelFamily) -> None:
        """Register `entry`; a name or a claim already taken is a bug in the family module, not a user error."""
        if entry.name in self._families:
            owner = self._families[entry.name].model_class.__qualname__
            raise ValueError(f"model family {entry.name!r} is already registered (by {owner})")
        for other in self:
            if other.overlaps(entry):
                raise ValueError(
                    f"model family {entry.name!r} claims architectures of family {entry.family!r} "
                    f"(backbone {entry.backbone!r}) that {other.name!r} already claims"
                )
        self._families[entry.name] = entry

    def register(
        self,
        name: str,
        *,
        family: str,
        reader: ArchitectureReader,
        backbone: str | None = None,
        checkpoint_filter: CheckpointFilter | None = None,
    ) -> Callable[[type[Model]], type[Model]]:
        """A class decorator that registers the model class under `name` and returns it unchanged."""

        def decorate(model_class: type[Model]) -> type[Model]:
            self.add(ModelFamily(name, model_class, family, backbone, reader, checkpoint_filter))
            return model_class

        return decorate

    def claiming(self, arch: Architecture) -> ModelFamily:
        """The family that builds `arch`."""
        for entry in self:
            if entry.claims(arch):
                return entry
        raise AibError(
            f"models: no registered model family builds {arch.name!r} (family {arch.family!r}, backbone "
            f"{arch.backbone!r}); registered families: {', '.join(self.names()) or 'none'}"
        )

    def infer_architecture(self, state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
        """The one architecture whose key names and shapes `state_dict` has, or None if no family reads it.

        Every reader runs, so the answer never depends on the order the families were imported in.
        """
        found = {entry.name: arch for entry in self if (arch := entry.read_architecture(state_dict)) is not None}
        if len(found) > 1:
            raise AibError(f"models: the state dict's keys fit several families at once ({', '.join(found)})")
        return next(iter(found.values()), None)


MODEL_FAMILIES = FamilyRegistry()
register_family = MODEL_FAMILIES.register


def build_model(arch: Architecture) -> AibNet:
    """A freshly initialised model of `arch`, in eval mode."""
    return MODEL_FAMILIES.claiming(arch).model_class(arch).eval()


def infer_architecture(state_dict: Mapping[str, torch.Tensor]) -> Architecture | None:
    """The architecture whose key names and shapes `state_dict` has, or None if none matches."""
    return MODEL_FAMILIES.infer_architecture(state_dict)


def family_filter(arch: Architecture) -> CheckpointFilter | None:
    """The checkpoint remapping function of the family that builds `arch`, if it needs one."""
    return MODEL_FAMILIES.claiming(arch).checkpoint_filter

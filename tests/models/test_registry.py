"""The model-family registry: every family is reachable, and registration mistakes fail loudly."""

import pytest
import torch

from aib_deploy.card.architecture import CUB_BACKBONES, FAMILIES, Architecture
from aib_deploy.errors import AibError
from aib_deploy.models import MODEL_FAMILIES, AibNet, build_model, family_filter, infer_architecture, register_family
from aib_deploy.models.registry import FamilyRegistry, ModelFamily
from tests.helpers.checkpoint_files import CASES, case_manifest

WRN = Architecture("wrn_cifar", num_classes=10, K=8, depth=10, widen_factor=1)


def shaped_state_dict(case: str) -> dict[str, torch.Tensor]:
    """A conformance case's key names and shapes, without drawing its weights."""
    return {key: torch.empty(shape, dtype=getattr(torch, dtype)) for key, shape, dtype, *_ in case_manifest(case)["state_dict"]}


@pytest.fixture(scope="module")
def case_architectures() -> list[Architecture]:
    return [infer_architecture(shaped_state_dict(case)) for case in sorted(CASES)]


@pytest.mark.parametrize("family", list(MODEL_FAMILIES), ids=lambda family: family.name)
def test_every_registered_family_reads_and_builds_its_conformance_cases(family, case_architectures):
    claimed = [arch for arch in case_architectures if family.claims(arch)]
    assert claimed, f"{family.name}: no conformance case is read as one of its architectures"
    for arch in claimed:
        model = build_model(arch)
        assert type(model) is family.model_class and not model.training
        assert infer_architecture(model.state_dict()) == arch
        assert family_filter(arch) is family.checkpoint_filter


@pytest.mark.parametrize(
    "family, backbone", [(family, None) for family in FAMILIES if family != "cub"] + [("cub", name) for name in CUB_BACKBONES]
)
def test_every_architecture_the_card_accepts_has_one_family(family, backbone):
    arch = Architecture(family, num_classes=10, K=8, backbone=backbone, depth=10, widen_factor=1)
    assert sum(entry.claims(arch) for entry in MODEL_FAMILIES) == 1


def test_a_second_family_under_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="model family 'vgg_cifar' is already registered"):
        register_family("vgg_cifar", family="vgg_cifar", reader=lambda state_dict: None)(AibNet)
    assert MODEL_FAMILIES.claiming(Architecture("vgg_cifar", num_classes=10, K=8)).name == "vgg_cifar"


@pytest.mark.parametrize("backbone", ["vgg16", None])
def test_a_family_claiming_architectures_already_claimed_is_refused(backbone):
    registry = FamilyRegistry()
    registry.register("cub_vgg16", family="cub", backbone="vgg16", reader=lambda state_dict: None)(AibNet)
    with pytest.raises(ValueError, match=r"'cub_other' claims architectures .* that 'cub_vgg16' already claims"):
        registry.register("cub_other", family="cub", backbone=backbone, reader=lambda state_dict: None)(AibNet)


def test_an_architecture_no_family_claims_is_a_user_error():
    registry = FamilyRegistry()
    registry.add(next(entry for entry in MODEL_FAMILIES if entry.name == "vgg_cifar"))
    with pytest.raises(AibError, match=r"no registered model family builds 'wrn_cifar_10_1'.*registered families: vgg_cifar"):
        registry.claiming(WRN)


def test_a_state_dict_two_families_read_is_a_user_error():
    registry = FamilyRegistry()
    for name in ("first", "second"):
        registry.add(ModelFamily(name, AibNet, name, None, lambda state_dict: WRN))
    with pytest.raises(AibError, match=r"fit several families at once \(first, second\)"):
        registry.infer_architecture({})

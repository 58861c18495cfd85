"""The PyTorch modules reproduce the paper code's outputs for every conformance case."""

import numpy as np
import pytest
import torch

from aib_deploy.compare import compare_outputs
from aib_deploy.models import build_model, infer_architecture
from tests.helpers.checkpoint_files import CASES, case_manifest, case_reference, case_state_dict


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    state_dict = case_state_dict(name)
    model = build_model(infer_architecture(state_dict))
    model.load_state_dict(state_dict, strict=True)
    return name, model, case_reference(name)


def test_state_dict_keys_match_the_original_in_order(case):
    name, model, _ = case
    assert list(model.state_dict()) == [row[0] for row in case_manifest(name)["state_dict"]]


def test_inferred_architecture_matches_the_case(case):
    name, model, _ = case
    expected = CASES[name]
    arch = model.arch
    assert (arch.family, arch.num_classes, arch.K, arch.quantized) == (
        expected["family"],
        expected["num_classes"],
        expected["K"],
        expected["quantized"],
    )
    assert arch.qt_num == expected.get("qt_num")
    assert arch.att_dim == expected["att_dim"] and arch.input_size == expected["input_size"]
    if arch.family == "wrn_cifar":
        assert (arch.depth, arch.widen_factor) == (expected["depth"], expected["widen_factor"])
    if arch.family == "cub":
        assert arch.backbone == expected["backbone"]


def test_deterministic_outputs_match_the_reference(case):
    _name, model, reference = case
    with torch.no_grad():
        outputs = model.deterministic(torch.from_numpy(reference["input"]))
    assert np.abs(outputs.attention_mean[:, 0].numpy() - reference["att_mu"]).max() <= 1e-5
    expected = {"logits": reference["logits"], "attention": reference.get("att_q", reference["att_mu"])}
    candidate = {"logits": outputs.logits.numpy(), "attention": outputs.attention[:, 0].numpy()}
    anchors = None
    if "anchor_index" in reference:
        expected["attention_index"] = reference["anchor_index"]
        candidate["attention_index"] = outputs.anchor_index[:, 0].numpy()
        anchors = model.emb.anchors.detach().numpy()
    comparison = compare_outputs(expected, candidate, attention_mean=reference["att_mu"], anchors=anchors)
    assert comparison.passed, comparison.summary()


def test_stochastic_mode_is_seeded_and_close_to_deterministic(case):
    _name, model, reference = case
    images = torch.from_numpy(reference["input"][:1])  # one image: the CUB backbones take a second each here
    expected = reference["logits"][:1]
    with torch.no_grad():
        first = model.stochastic(images, num_avg=3, generator=torch.Generator().manual_seed(7))
        again = model.stochastic(images, num_avg=3, generator=torch.Generator().manual_seed(7))
        other = model.stochastic(images, num_avg=3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first.logits, again.logits)
    assert not torch.equal(first.logits, other.logits)
    assert first.logits.shape == torch.Size(expected.shape)
    # The scales are softplus(s - 5) ~ 0.007, so samples stay near the mean.
    scale = np.abs(expected).max()
    assert np.abs(first.logits.numpy() - expected).max() < 0.25 * scale

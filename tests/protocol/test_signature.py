"""ModelSignature: one description of a model's tensors, from its card, that every wire surface reads."""

import pytest

from aib_deploy.contract import FRAMES_INPUT, INPUT_NAME, OUTPUT_NAMES
from aib_deploy.protocol.signature import ModelSignature, TensorSpec
from tests.helpers.cards import make_card


def test_a_quantized_model_has_the_contracts_tensors_with_their_types_and_dims():
    signature = ModelSignature.of(make_card(num_classes=3, anchors=4, max_batch=8), "fp16")
    assert signature.name == "aib_custom_vgg_cifar_qt_fp16" and signature.version == "1" and signature.max_batch == 8
    assert signature.images == TensorSpec(INPUT_NAME, "float32", (3, 32, 32))
    assert signature.frames == TensorSpec(FRAMES_INPUT, "bytes", (1,))
    described = [(spec.name, spec.datatype, spec.triton_type, spec.dims) for spec in signature.outputs]
    assert described == [
        ("logits", "FP32", "TYPE_FP32", (3,)),
        ("attention", "FP32", "TYPE_FP32", (1, 16, 16)),
        ("attention_index", "INT32", "TYPE_INT32", (1, 16, 16)),
    ]
    assert signature.frames.datatype == "BYTES" and signature.frames.triton_type == "TYPE_STRING"
    assert [(spec.name, spec.optional) for spec in signature.either_input] == [("images", True), ("frames", True)]


def test_a_plain_model_has_no_anchor_indices_and_a_given_batch_limit_wins():
    signature = ModelSignature.of(make_card(anchors=None), "fp32", max_batch=2)
    assert signature.output_names == OUTPUT_NAMES[:2] and signature.max_batch == 2


@pytest.mark.parametrize("name, version, served", [("m", "", True), ("m", "1", True), ("m", "2", False), ("x", "", False)])
def test_serves_names_its_model_and_version(name, version, served):
    assert ModelSignature(make_card(), "m", 8).serves(name, version) is served


def test_described_shows_what_a_client_must_send():
    assert ModelSignature.of(make_card(), "fp32").images.described() == "'images' (FP32 [N, 3, 32, 32])"

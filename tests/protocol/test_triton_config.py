"""The Triton model config: built as the proto from a signature, written as text that Triton's own schema
(tritonclient's copy of model_config.proto) parses back to the same message."""

from google.protobuf import text_format

from aib_deploy.contract import LABELS_FILE, MODEL_CARD_KEY
from aib_deploy.protocol.signature import ModelSignature
from aib_deploy.protocol.triton_config import EnsembleStep, Scheduling, config_text, ensemble_config, model_config
from aib_deploy.serving.kserve import served_model_config
from tests.helpers.cards import make_card
from tests.helpers.triton import triton_model_config

SIGNATURE = ModelSignature(make_card(), "m", 8)


def parsed(config):
    schema = triton_model_config()
    return text_format.Parse(config_text(config), schema.ModelConfig())


def test_a_platform_model_round_trips_through_tritons_schema():
    config = model_config(
        "m",
        8,
        [SIGNATURE.images],
        SIGNATURE.outputs,
        {MODEL_CARD_KEY: "{}"},
        platform="onnxruntime_onnx",
        scheduling=Scheduling(2000, 2, "cpu"),
    )
    back = parsed(config)
    assert back.SerializeToString() == config.SerializeToString()
    assert back.platform == "onnxruntime_onnx" and back.max_batch_size == 8
    assert [(t.name, list(t.dims)) for t in back.input] == [("images", [3, 32, 32])]
    assert back.input[0].format == back.input[0].FORMAT_NCHW
    assert [t.label_filename for t in back.output] == [LABELS_FILE, "", ""]
    assert back.dynamic_batching.max_queue_delay_microseconds == 2000
    assert back.instance_group[0].count == 2 and back.instance_group[0].kind == back.instance_group[0].KIND_CPU
    assert back.parameters[MODEL_CARD_KEY].string_value == "{}"


def test_without_a_delay_there_is_no_dynamic_batching_and_an_ensemble_chains_its_steps():
    single = parsed(
        model_config("p", 8, [SIGNATURE.frames], [SIGNATURE.images], {}, backend="python", scheduling=Scheduling(None, 1, "cpu"))
    )
    assert not single.HasField("dynamic_batching") and single.input[0].data_type == triton_model_config().TYPE_STRING
    steps = [
        EnsembleStep("p", 1, {"frames": "frames"}, {"images": "images"}),
        EnsembleStep("m", 1, {"images": "images"}, {"logits": "logits"}),
    ]
    ensemble = parsed(ensemble_config("e", 8, [SIGNATURE.frames], SIGNATURE.outputs, steps, {}))
    assert ensemble.platform == "ensemble" and not ensemble.instance_group
    assert [(step.model_name, dict(step.input_map)) for step in ensemble.ensemble_scheduling.step] == [
        ("p", {"frames": "frames"}),
        ("m", {"images": "images"}),
    ]


def test_aib_serves_config_declares_both_inputs_optional_and_its_instance_kind():
    config = served_model_config(SIGNATURE, on_gpu=True, instances=3, max_delay_ms=0.5)
    back = parsed(config)
    assert [(t.name, t.optional) for t in back.input] == [("images", True), ("frames", True)]
    assert back.backend == "aib_deploy" and back.dynamic_batching.max_queue_delay_microseconds == 500
    assert back.instance_group[0].kind == back.instance_group[0].KIND_GPU and back.instance_group[0].count == 3

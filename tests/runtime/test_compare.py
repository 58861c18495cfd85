"""The one home of model comparison: agreement figures from arrays, the gate, running two runners, and
`compare_models` on the demo model's files."""

import numpy as np
import pytest

from aib_deploy.backends.base import Runner
from aib_deploy.card.architecture import Architecture
from aib_deploy.card.model_card import ModelCard
from aib_deploy.errors import AibError
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime.compare import (
    CHECK_BATCH,
    Agreement,
    CompareOptions,
    Gate,
    agreement_of,
    check_comparable,
    compare_models,
    measure_agreement,
    run_all,
)

ANCHORS = (0.5, 0.0, 1.0, 0.25)  # value order: 0.0 (index 1), 0.25 (3), 0.5 (0), 1.0 (2)


def outputs(logits, attention, index=None):
    data = {"logits": np.asarray(logits, dtype=np.float32), "attention": np.asarray(attention, dtype=np.float32)}
    if index is not None:
        data["attention_index"] = np.asarray(index, dtype=np.int32)
    return data


def card(**changes):
    """A quantized CIFAR-sized card with ANCHORS; `changes` replace its fields."""
    fields = {
        "architecture": Architecture("vgg_cifar", 2, 8, quantized=True, qt_num=len(ANCHORS)),
        "dataset": "test",
        "labels": ("a", "b"),
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
        "anchors": ANCHORS,
        "checkpoint_sha256": "0" * 64,
        "checkpoint_weights": "net",
        "aib_deploy_version": "test",
    }
    return ModelCard(**{**fields, **changes})


def test_identical_outputs_agree_fully():
    reference = outputs([[1.0, 5.0], [3.0, 2.0]], [[0.25, 0.5], [1.0, 0.0]], [[3, 0], [2, 1]])
    agreement = agreement_of(reference, reference, ANCHORS)
    assert agreement == Agreement(frames=2, top1=1.0, index_exact=1.0, index_within_one_step=1.0, attention_on_anchors=1.0)


def test_attention_values_off_their_float32_anchor_are_counted_and_fail_any_gate():
    reference = outputs([[1.0, 5.0], [3.0, 2.0]], [[0.25, 0.5], [1.0, 0.0]], [[3, 0], [2, 1]])
    rounded = outputs([[1.0, 5.0], [3.0, 2.0]], [[0.2500305, 0.5], [1.0, 0.0]], [[3, 0], [2, 1]])  # fp16-rounded
    agreement = agreement_of(reference, rounded, ANCHORS)
    assert agreement.index_exact == 1.0 and agreement.attention_on_anchors == 0.75
    assert Gate(0, 0).failures(agreement) == ["attention values equal to their float32 anchor 75.00% < 100% (the contract)"]


def test_one_anchor_step_is_counted_in_value_order_not_index_order():
    reference = outputs([[1.0, 0.0]] * 2, [[0.0, 0.0]] * 2, [[1, 1], [1, 1]])  # anchor 0.0
    # 0.0 -> 0.25 (index 3) is one step in value order, three apart by index; 0.0 -> 0.5 (index 0) is two steps
    candidate = outputs([[1.0, 0.0]] * 2, [[0.25, 0.0], [0.5, 0.0]], [[3, 1], [0, 1]])
    agreement = agreement_of(reference, candidate, ANCHORS)
    assert agreement.index_exact == 0.5 and agreement.index_within_one_step == 0.75
    assert agreement.attention_max_abs_diff == 0.5 and agreement.top1 == 1.0


def test_top1_and_logit_figures():
    reference = outputs([[2.0, 1.0], [0.0, 1.0], [1.0, 0.0], [5.0, 4.0]], [[0.0]] * 4)
    candidate = outputs([[2.0, 1.0], [1.5, 1.0], [1.0, 0.0], [5.0, 4.0]], [[0.0]] * 4)
    agreement = agreement_of(reference, candidate)
    assert agreement.frames == 4 and agreement.top1 == 0.75 and agreement.logits_max_abs_diff == 1.5
    assert agreement.index_exact is None and agreement.index_within_one_step is None


def test_describe_names_every_figure_and_leaves_out_the_index_of_plain_models():
    quantized = Agreement(
        frames=64,
        top1=0.921875,
        index_exact=0.79823,
        index_within_one_step=0.9633,
        attention_max_abs_diff=1.0,
        logits_max_abs_diff=11.7,
    )
    assert quantized.describe() == (
        "64 held-out frames: top-1 agreement 92.19%, attention-index agreement 79.82% exact and 96.33% within one "
        "anchor step, max|attention diff| 1, max|logit diff| 11.7"
    )
    plain = Agreement(frames=8, top1=1.0, logits_max_abs_diff=4.05e-06)
    assert plain.describe() == "8 held-out frames: top-1 agreement 100.00%, max|attention diff| 0, max|logit diff| 4.05e-06"


def test_a_gate_lists_what_falls_below_it():
    gate = Gate()
    assert gate.failures(Agreement(frames=1, top1=0.99, index_exact=0.95)) == []
    assert gate.failures(Agreement(frames=1, top1=0.5)) == ["top-1 agreement 50.00% < 99.00%"]  # no index, no index failure
    assert gate.failures(Agreement(frames=1, top1=0.9, index_exact=0.8)) == [
        "top-1 agreement 90.00% < 99.00%",
        "attention-index agreement 80.00% < 95.00%",
    ]


def test_gate_parsing():
    assert Gate.parse("top1=0,index=0") == Gate(0.0, 0.0)
    assert Gate.parse(" index = 0.5 ") == Gate(top1=0.99, index=0.5)
    assert Gate.parse(Gate().describe()) == Gate()


@pytest.mark.parametrize("text", ["index=95", "top5=0.5", "top1", "top1=high"])
def test_a_bad_gate_names_the_pair(text):
    with pytest.raises(AibError, match=r"--fail-under: expected KEY=SHARE pairs .* got"):
        Gate.parse(text)


class Scripted(Runner):
    """A runner whose logits are each image's first pixel and its negative (flipped above `flip_above`, so the
    top class changes there); it records its batch sizes."""

    name = "scripted"

    def __init__(self, model_card: ModelCard, flip_above: float = np.inf) -> None:
        super().__init__()
        self.model_card, self.flip_above, self.batches = model_card, flip_above, []

    def activate_impl(self) -> ModelCard:
        return self.model_card

    def infer_impl(self, images):
        self.batches.append(len(images))
        first = images[:, 0, 0, 0]
        sign = np.where(first > self.flip_above, -1.0, 1.0)
        return {
            "logits": np.stack([first, -first], 1) * sign[:, None],
            "attention": np.zeros((len(images), 1)),
            "attention_index": np.zeros((len(images), 1), np.int32),
        }


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def update(self, count: int = 1) -> None:
        self.count += count


def test_run_all_takes_batches_the_runner_can_and_keeps_the_order():
    images = np.arange(150, dtype=np.float32).reshape(150, 1, 1, 1) + 1
    progress = Counter()
    with Scripted(card(max_batch=CHECK_BATCH * 4)) as wide, Scripted(card(max_batch=8)) as narrow:
        joined = run_all(wide, images, progress)
        assert wide.batches == [CHECK_BATCH, CHECK_BATCH, 150 - 2 * CHECK_BATCH]
        assert run_all(narrow, images)["logits"].tolist() == joined["logits"].tolist()
        assert narrow.batches == [8] * 18 + [6]
    assert joined["logits"][:, 0].tolist() == list(range(1, 151)) and progress.count == 150


def test_measure_agreement_runs_both_on_the_same_images():
    images = np.arange(1, 11, dtype=np.float32).reshape(10, 1, 1, 1)
    progress = Counter()
    with Scripted(card()) as reference, Scripted(card(), flip_above=6) as candidate:
        agreement = measure_agreement(reference, candidate, images, reference.card, progress)
    assert agreement.frames == 10 and agreement.top1 == 0.6 and agreement.index_exact == 1.0 and progress.count == 20


def test_models_that_would_see_other_frames_are_refused():
    check_comparable("a.onnx", "b.onnx", card(), card(extra={"quantization": {"precision": "int8"}}))
    with pytest.raises(AibError, match=r"b.onnx: not comparable with a.onnx: their architecture, input_size differ"):
        check_comparable("a.onnx", "b.onnx", card(), card(architecture=Architecture("cub", 2, 8, backbone="vgg16")))
    with pytest.raises(AibError, match="their mean differ"):
        check_comparable("a.onnx", "b.onnx", card(), card(mean=(0.4, 0.5, 0.5)))


def test_compare_models_the_checkpoint_against_its_onnx_file(demo_onnx):
    from aib_deploy.demo.run import bundled_checkpoint

    frames = list(make_dataset(16, 96, seed=5)[0])
    agreement, failures = compare_models(bundled_checkpoint(), demo_onnx, frames, CompareOptions(progress=False))
    assert agreement.frames == 16 and agreement.top1 == 1.0 and agreement.index_exact == 1.0 and failures == []
    strict = CompareOptions(fail_under=Gate(top1=1.0, index=1.0), progress=False)
    assert compare_models(demo_onnx, demo_onnx, frames, strict)[1] == []

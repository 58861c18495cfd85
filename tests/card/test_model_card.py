"""A model card read from a file is checked once: every wrong value is one `model card is not valid` line,
never a traceback later (a NaN anchor once crashed drawing, a string mean crashed preprocessing)."""

import json
import math

import pytest

from aib_deploy.card.model_card import ModelCard
from aib_deploy.errors import AibError
from tests.helpers.cards import make_card

WRONG_VALUES = (None, "x", -1, 0, 1.5, math.nan, [], {}, [None], ["x"], True)


def card_json() -> dict:
    return json.loads(make_card(num_classes=8, anchors=20).to_json())


def mutations():
    """Every key of the card and of its architecture, with every wrong value."""
    data = card_json()
    for key in data:
        for value in WRONG_VALUES:
            yield (key,), value
    for key in data["architecture"]:
        for value in WRONG_VALUES:
            yield ("architecture", key), value


@pytest.mark.parametrize("keys, value", list(mutations()), ids=lambda item: repr(item)[:40])
def test_a_wrong_value_anywhere_is_one_error_or_harmless(keys, value):
    data = card_json()
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    try:
        card = ModelCard.from_json(json.dumps(data), source="m.onnx")
    except AibError as error:
        assert str(error).startswith("m.onnx: model card is not valid (")
        return
    # Accepted: then everything a command reads from it must be usable.
    assert card.architecture.input_size >= 1 and len(card.labels) == card.architecture.num_classes
    assert all(math.isfinite(v) for v in (*card.mean, *card.std)) and min(card.std) > 0
    assert card.anchors is None or all(math.isfinite(v) for v in card.anchors)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda d: d.update(labels=list(range(8))), "labels: expected non-empty strings"),
        (lambda d: d.update(anchors=[math.nan] * 20), "anchors: expected 20 finite numbers"),
        (lambda d: d.update(std=[0, 0, 0]), "std above 0"),
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d.update(labels=d["labels"][:3]), "3 labels for a model of 8 classes"),
    ],
    ids=["integer labels", "nan anchors", "zero std", "newer schema", "too few labels"],
)
def test_named_problems(change, fragment):
    data = card_json()
    change(data)
    with pytest.raises(AibError, match="model card is not valid") as raised:
        ModelCard.from_json(json.dumps(data), source="m.onnx")
    assert fragment in str(raised.value)

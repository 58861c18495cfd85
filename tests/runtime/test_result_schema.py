"""The one result schema: the Python API's records validate, floats are float32 exactly, indices are integers."""

import numpy as np
import pytest

from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import load_predictor
from aib_deploy.runtime.result import Prediction, model_record
from tests.helpers.results import validate


@pytest.fixture(scope="module")
def predictions(demo_onnx):
    with load_predictor(demo_onnx) as predictor:
        frames = list(make_dataset(3, 64, seed=4)[0])
        yield predictor.card, predictor.backend, predictor.predict([*frames, np.zeros((0, 0, 3), np.uint8)])


def test_model_and_frame_records_validate(predictions):
    card, backend, results = predictions
    model = validate(model_record(card, backend))
    assert model["anchors"] == [float(np.float32(a)) for a in card.anchors]
    for index, prediction in enumerate(results):
        record = validate(prediction.to_dict(source=f"frame{index}", frame_index=index))
        assert record["frame_index"] == index and isinstance(record["batch_size"], int)
    assert results[-1].error and validate(results[-1].to_dict())["attention"] is None


def test_attention_values_are_written_exactly_as_float32(predictions):
    card, _, results = predictions
    record = results[0].to_dict()
    values = np.asarray(record["attention"], np.float32)
    assert np.array_equal(values, results[0].attention)
    anchors = np.asarray(card.anchors, np.float32)
    assert np.array_equal(values, anchors[np.asarray(record["anchor_index"])])  # every value is its anchor, exactly


def test_the_schema_refuses_what_it_should():
    import jsonschema

    good = Prediction(attention=np.zeros((2, 2), np.float32), anchor_index=np.zeros((2, 2), np.uint8)).to_dict()
    for broken in ({**good, "batch_size": 1.5}, {**good, "anchor_index": [["a"]]}, {**good, "extra": 1}, {"kind": "frame"}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)

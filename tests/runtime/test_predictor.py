"""The Predictor over ONNX Runtime and PyTorch on the committed demo model."""

import numpy as np
import pytest

from aib_deploy.backends.onnxrt import OnnxrtRunner, choose_providers
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.errors import AibError
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import Predictor, load_predictor


@pytest.fixture(scope="module")
def frames():
    images, labels, _ = make_dataset(48, 96, seed=4242)
    return list(images), labels


@pytest.fixture(scope="module")
def predictors(demo_onnx):
    onnx = load_predictor(demo_onnx, top_k=3)
    torch = load_predictor(bundled_checkpoint(), top_k=3)  # the checkpoint names its dataset: glyph labels
    yield onnx, torch
    onnx.close()
    torch.close()


def test_backends_agree_on_top1_and_anchor_indices(predictors, frames):
    onnx, torch = predictors
    assert (onnx.backend, torch.backend) == ("onnxruntime", "pytorch")
    images, _ = frames
    by_onnx, by_torch = onnx.predict(images), torch.predict(images)
    assert [p.top_k[0].class_index for p in by_onnx] == [p.top_k[0].class_index for p in by_torch]
    for a, b in zip(by_onnx, by_torch):
        assert np.array_equal(a.anchor_index, b.anchor_index)
        assert np.allclose(a.attention, b.attention, atol=1e-6)
        assert abs(a.top_k[0].score - b.top_k[0].score) < 1e-4


def test_result_contents(predictors, frames):
    onnx, _ = predictors
    images, labels = frames
    results = onnx.predict(images)
    card = onnx.card
    first = results[0]
    assert len(first.top_k) == 3 and first.top_k[0].score >= first.top_k[1].score >= first.top_k[2].score
    assert first.top_k[0].label == card.labels[first.top_k[0].class_index]
    assert first.attention.shape == (card.att_dim, card.att_dim) and first.attention.dtype == np.float32
    assert first.anchor_index.dtype == np.uint8 and first.anchors == card.anchors
    assert np.allclose(first.attention, np.asarray(card.anchors, dtype=np.float32)[first.anchor_index])
    assert set(first.timings_ms) == {"preprocess", "inference", "postprocess"} and first.batch_size == min(
        len(images), onnx.max_batch
    )
    accuracy = np.mean([r.top_k[0].class_index == label for r, label in zip(results, labels)])
    assert accuracy >= 0.9, "the demo model should classify its own kind of images"


def test_a_bad_frame_fails_alone(predictors, frames):
    onnx, _ = predictors
    images, _ = frames
    batch = [images[0], np.zeros((5, 5, 2), np.uint8), images[1], np.zeros((4, 4), np.float64)]
    results = onnx.predict(batch)
    assert [r.ok for r in results] == [True, False, True, False]
    assert "got shape (5, 5, 2)" in results[1].error and "dtype uint8" in results[3].error
    alone = onnx.predict([images[1]])[0]
    assert alone.top_k[0] == results[2].top_k[0]


def test_batches_larger_than_max_batch_are_split(demo_onnx, frames):
    images, _ = frames
    with Predictor(OnnxrtRunner(demo_onnx), max_batch=7) as small:
        results = small.predict(images[:20])
    assert len(results) == 20 and max(r.batch_size for r in results) == 7


def test_cpu_provider_choice():
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == "CUDAExecutionProvider"
    with pytest.raises(AibError, match="no CUDAExecutionProvider"):
        choose_providers("cuda", ["CPUExecutionProvider"])


def test_onnx_without_a_model_card_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["logits"])],
        "plain",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(AibError, match="no aib-deploy model card"):
        load_predictor(path)


def test_corrupt_onnx_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(AibError, match="ONNX Runtime cannot load it"):
        load_predictor(path)

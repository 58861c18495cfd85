"""The repositories `aib export triton` writes, loaded and run by a real Triton Inference Server: the
`tritonserver` of nvidia-pytriton 0.7.0 (Triton 2.51 with its Python backend; tests/helpers/tritonserver.py).

Run for real: the Python-backend model (`--backend python`) with `images` and with `frames`, against
`aib predict` on the same frames; Triton's classification extension; dynamic batching; a corrupt frame
among good requests in flight; the `--frames` ensemble's preprocess model; and the ensemble itself,
with its ONNX Runtime step stood in for by the Python-backend model of the same name and contract.
The wheel has no ONNX Runtime or TensorRT backend, so those entries are only schema-checked
(tests/export/test_triton.py).
"""

import csv
import json
import os
import queue
import shutil

import cv2
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from aib_deploy.backends.onnxrt import OnnxrtRunner
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime.predictor import softmax
from aib_deploy.runtime.preprocess import Preprocessor
from tests.helpers.cli import assert_one_line_error, call_aib, run_aib
from tests.helpers.tritonserver import PYTHON_BACKEND_FLAGS, TritonServer, triton_unavailable

UNAVAILABLE = triton_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"real Triton: {UNAVAILABLE}")

MODEL = "demo"
ENSEMBLE_MODEL = "demo_ort"  # exported with --frames; its ONNX Runtime entry replaced by the Python-backend model
FRAME_COUNT = 8  # the --max-batch the models are exported with
LOGITS_TOLERANCE = 1e-5


def export(demo_onnx, repository, name, *flags):
    result = run_aib(
        "export",
        "triton",
        demo_onnx,
        "--repository",
        repository,
        "--name",
        name,
        "--kind",
        "cpu",
        "--max-batch",
        str(FRAME_COUNT),
        *PYTHON_BACKEND_FLAGS,
        *flags,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def frames():
    """BGR frames larger than the model's input (so the server resizes them), and their PNG bytes (lossless,
    so `aib predict` reading the files and Triton decoding the bytes see the same pixels)."""
    images, _, _ = make_dataset(FRAME_COUNT, 40, seed=13)
    return list(images), [cv2.imencode(".png", image)[1].tobytes() for image in images]


@pytest.fixture(scope="module")
def expected(demo_onnx, frames, tmp_path_factory):
    """`aib predict` on the frames as PNG files (its JSON lines, in frame order), and ONNX Runtime's logits."""
    folder = tmp_path_factory.mktemp("frames")
    for index, data in enumerate(frames[1]):
        (folder / f"frame_{index:02d}.png").write_bytes(data)
    results = folder.parent / "results.jsonl"
    result = run_aib(
        "predict", demo_onnx, folder, "-o", folder.parent / "annotated", "--results", results, "--top-k", "8", "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    records = sorted((r for r in records if r["kind"] == "frame"), key=lambda r: r["source"])
    with OnnxrtRunner(demo_onnx, device="cpu") as runner:
        card = runner.card
        images = Preprocessor(card.input_size, card.mean, card.std).batch(frames[0])
        logits = runner.infer(images)["logits"]
    return records, images, logits, card


@pytest.fixture(scope="module")
def server(demo_onnx, tmp_path_factory):
    """One server for the module: MODEL (python backend), and the --frames ensemble of ENSEMBLE_MODEL."""
    repository, ensemble = tmp_path_factory.mktemp("repository"), tmp_path_factory.mktemp("ensemble")
    export(demo_onnx, repository, MODEL, "--backend", "python")
    export(demo_onnx, ensemble, ENSEMBLE_MODEL, "--frames")
    export(demo_onnx, repository, ENSEMBLE_MODEL, "--backend", "python")
    for entry in (f"{ENSEMBLE_MODEL}_preprocess", f"{ENSEMBLE_MODEL}_frames"):
        shutil.copytree(ensemble / entry, repository / entry)
    with TritonServer(repository) as running:
        yield running


@pytest.fixture
def client(server):
    with triton.InferenceServerClient(server.grpc_url) as connection:
        yield connection


def frames_input(data: list[bytes]) -> triton.InferInput:
    tensor = triton.InferInput("frames", [len(data), 1], "BYTES")
    tensor.set_data_from_numpy(np.array(data, dtype=object).reshape(-1, 1))
    return tensor


def images_input(images: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput("images", list(images.shape), "FP32")
    tensor.set_data_from_numpy(images)
    return tensor


def assert_same_as_aib_predict(result, expected, rows=slice(None)):
    records, _, reference_logits, _ = expected
    records, reference_logits = records[rows], reference_logits[rows]
    logits, attention, index = (result.as_numpy(name) for name in ("logits", "attention", "attention_index"))
    assert logits.shape == (len(records), 8) and index.dtype == np.int32 and index.shape == (len(records), 1, 16, 16)
    np.testing.assert_allclose(logits, reference_logits, rtol=0, atol=LOGITS_TOLERANCE)
    for row, record in enumerate(records):
        assert int(np.argmax(logits[row])) == record["top_k"][0]["class_index"]
        assert np.array_equal(index[row, 0], np.array(record["anchor_index"]))
        np.testing.assert_allclose(attention[row, 0], np.array(record["attention"], np.float32), rtol=0, atol=1e-6)
        scores = {entry["class_index"]: entry["score"] for entry in record["top_k"]}
        probabilities = softmax(logits[row].astype(np.float64))
        np.testing.assert_allclose(
            [probabilities[c] for c in sorted(scores)], [scores[c] for c in sorted(scores)], rtol=0, atol=LOGITS_TOLERANCE
        )


def test_model_is_ready_with_its_config(client):
    assert client.is_server_ready() and client.is_model_ready(MODEL, "1")
    metadata = client.get_model_metadata(MODEL)
    assert {tensor.name for tensor in metadata.inputs} == {"images", "frames"}
    assert [tensor.name for tensor in metadata.outputs] == ["logits", "attention", "attention_index"]
    config = client.get_model_config(MODEL).config
    assert config.backend == "python" and config.max_batch_size == FRAME_COUNT and config.dynamic_batching is not None


def test_frames_answer_as_aib_predict(client, frames, expected):
    assert_same_as_aib_predict(client.infer(MODEL, [frames_input(frames[1])]), expected)


def test_images_answer_as_aib_predict(client, expected):
    images = expected[1]
    assert_same_as_aib_predict(client.infer(MODEL, [images_input(images[:5])]), expected, slice(0, 5))


def test_classification_extension_names_the_top_class(client, frames, expected):
    wanted = [triton.InferRequestedOutput("logits", class_count=2)]
    result = client.infer(MODEL, [frames_input(frames[1][:4])], outputs=wanted)
    entries = result.as_numpy("logits")
    for row, record in enumerate(expected[0][:4]):
        value, index, label = entries[row, 0].decode().split(":")
        assert (int(index), label) == (record["top_k"][0]["class_index"], record["top_k"][0]["label"])
        assert abs(float(value) - expected[2][row, int(index)]) < 1e-5


def send_all(client, model: str, requests: list[list]) -> list:
    """Every request at once (async); each one's result or InferenceServerException, in request order."""
    answers: queue.Queue = queue.Queue()
    for number, inputs in enumerate(requests):
        client.async_infer(model, inputs, callback=lambda result, error, n=number: answers.put((n, result, error)))
    collected = {n: error or result for n, result, error in (answers.get(timeout=120) for _ in requests)}
    return [collected[number] for number in range(len(requests))]


def test_dynamic_batching_runs_concurrent_requests_together(client, expected):
    images = expected[1]
    results = send_all(client, MODEL, [[images_input(images[row % FRAME_COUNT : row % FRAME_COUNT + 1])] for row in range(16)])
    for row, result in enumerate(results):
        assert not isinstance(result, Exception), result
        assert_same_as_aib_predict(result, expected, slice(row % FRAME_COUNT, row % FRAME_COUNT + 1))
    (stats,) = client.get_inference_statistics(MODEL).model_stats
    batches = {entry.batch_size: entry.compute_infer.count for entry in stats.batch_stats}
    assert max(batches) > 1, f"execution batch sizes: {batches}"


def test_a_bad_request_fails_alone_with_a_clear_message(client, frames, expected):
    good = frames[1]
    requests = [
        [frames_input(good[0:1])],
        [frames_input([b"not an image"])],
        [frames_input(good[1:2])],
        [frames_input([good[2], good[3][:100]])],
        [frames_input(good[4:6])],
        [images_input(np.zeros((1, 3, 16, 16), np.float32))],
        [images_input(expected[1][6:7]), frames_input(good[6:7])],
    ]
    results = send_all(client, MODEL, requests)
    for result, rows in zip([results[0], results[2], results[4]], [slice(0, 1), slice(1, 2), slice(4, 6)]):
        assert not isinstance(result, Exception), result
        assert_same_as_aib_predict(result, expected, rows)
    errors = [results[number] for number in (1, 3, 5, 6)]
    assert all(isinstance(error, InferenceServerException) for error in errors), errors
    assert [error.status() for error in errors] == ["StatusCode.INVALID_ARGUMENT"] * 4
    assert errors[0].message() == "frames[0]: not a JPEG, PNG, BMP, WebP or TIFF image"
    assert errors[1].message().startswith("frames[1]: PNG") or errors[1].message().startswith("frames[1]: cannot decode")
    assert "images" in errors[2].message() and "[-1,3,32,32]" in errors[2].message().replace(" ", "")  # Triton's own check
    assert errors[3].message() == "expected one input, 'images' (FP32 [N, 3, 32, 32]) or 'frames' (BYTES [N, 1]), got both"
    for error in errors:
        assert "\n" not in error.message() and "Traceback" not in error.message()


def test_ensemble_preprocess_model_matches_the_runtime(client, frames, expected):
    result = client.infer(f"{ENSEMBLE_MODEL}_preprocess", [frames_input(frames[1][:6])])
    np.testing.assert_array_equal(result.as_numpy("images"), expected[1][:6])
    with pytest.raises(InferenceServerException, match=r"frames\[0\]: not a JPEG"):
        client.infer(f"{ENSEMBLE_MODEL}_preprocess", [frames_input([b"\x00" * 64])])


def test_frames_ensemble_answers_as_aib_predict(client, frames, expected):
    assert client.is_model_ready(f"{ENSEMBLE_MODEL}_frames")
    wanted = [triton.InferRequestedOutput(name) for name in ("logits", "attention", "attention_index")]
    result = client.infer(f"{ENSEMBLE_MODEL}_frames", [frames_input(frames[1])], outputs=wanted)
    assert_same_as_aib_predict(result, expected)


def test_server_stops_by_pid(tmp_path):
    (tmp_path / "empty").mkdir()
    with TritonServer(tmp_path / "empty") as running:
        pid = running.pid
        assert running.is_ready()
    assert running.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_aib_perf_measures_triton_and_asks_which_model_when_it_serves_several(server, tmp_path):
    """The same load generator against the real Triton: its own statistics fill the server columns."""
    quick = ("--measurement-interval", "300", "--max-trials", "3")
    address = server.grpc_url
    several = call_aib("perf", address, *quick)
    assert_one_line_error(several, f"server {address}: serves 4 models", "name one with -m")
    report = tmp_path / "triton.csv"
    result = call_aib("perf", address, "-m", MODEL, "-f", report, "--json", *quick)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert row["requests"] > 0 and row["errors"] == 0 and row["server_compute_us"] > 0
    with open(report, newline="") as handle:
        assert next(csv.reader(handle))[:2] == ["Concurrency", "Inferences/Second"]
    frames = call_aib("perf", address, "-m", f"{ENSEMBLE_MODEL}_frames", "--input", "frames", *quick)
    assert frames.returncode == 0, frames.stderr
    streamed = call_aib("perf", address, "-m", MODEL, "--streaming", "--concurrency-range", "2", "--json", *quick)
    assert streamed.returncode == 0, streamed.stderr
    (row,) = json.loads(streamed.stdout)["rows"]  # ModelStreamInfer: Triton counts the streamed requests too
    assert row["requests"] > 0 and row["errors"] == 0 and row["server_compute_us"] > 0

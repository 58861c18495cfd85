"""One unmodified tritonclient script (scripts/kserve_client.py) against `aib serve` and against a real
Triton Inference Server running the repository `aib export triton --backend python` writes: the same answers."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from aib_deploy.media.synthetic import make_dataset
from tests.helpers.cli import run_aib
from tests.helpers.server import ServerProcess
from tests.helpers.tritonserver import PYTHON_BACKEND_FLAGS, TritonServer, triton_unavailable

UNAVAILABLE = triton_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"real Triton: {UNAVAILABLE}")
CLIENT = Path(__file__).resolve().parents[2] / "scripts" / "kserve_client.py"
MODEL = "aib_glyphs_wrn_cifar_10_2_qt_fp32"  # the name both servers take from the model card


def answers(url: str, frames: list[Path], kind: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, str(CLIENT), "--url", url, "--model", MODEL, "--input", kind, *map(str, frames)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("frames")
    images, _, _ = make_dataset(6, 80, seed=21)
    paths = [folder / f"frame_{index}.png" for index in range(len(images))]
    for path, image in zip(paths, images):
        cv2.imwrite(str(path), image)
    return paths


def test_the_same_tritonclient_script_gets_the_same_answers_from_aib_serve_and_triton(demo_onnx, frames, tmp_path):
    repository = tmp_path / "repository"
    result = run_aib(
        "export", "triton", demo_onnx, "--repository", repository, "--backend", "python", "--kind", "cpu", *PYTHON_BACKEND_FLAGS
    )
    assert result.returncode == 0, result.stderr
    assert (repository / MODEL / "config.pbtxt").is_file()
    aib = ServerProcess(demo_onnx)
    try:
        from_aib = {kind: answers(aib.address, frames, kind) for kind in ("frames", "images")}
    finally:
        aib.stop()
    with TritonServer(repository) as triton:
        from_triton = {kind: answers(triton.grpc_url, frames, kind) for kind in ("frames", "images")}
    for kind in ("frames", "images"):
        assert len(from_aib[kind]) == len(from_triton[kind]) == len(frames)
        for ours, theirs in zip(from_aib[kind], from_triton[kind]):
            assert (ours["class_index"], ours["label"]) == (theirs["class_index"], theirs["label"])
            assert np.allclose(ours["logits"], theirs["logits"], atol=1e-5)
            assert ours["attention_index"] == theirs["attention_index"]

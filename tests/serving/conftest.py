import pytest

from aib_deploy.runtime import RunnerOptions, load_predictor


@pytest.fixture(scope="module")
def predictor(demo_onnx):
    """The demo model on ONNX Runtime with one thread, in this process: for the batcher and pipeline on their own."""
    with load_predictor(demo_onnx, RunnerOptions(threads=1)) as loaded:
        yield loaded

"""`aib export triton`'s choice of backend and its option checks, as plain functions (no model is opened)."""

import pytest

from aib_deploy.errors import AibError
from aib_deploy.export.triton import TritonOptions, choose_backend


@pytest.fixture
def files(tmp_path):
    for name in ("m.onnx", "m.engine", "m.plan", "m.txt"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


@pytest.mark.parametrize(
    "name, options, backend",
    [
        ("m.onnx", TritonOptions(), "onnxruntime"),
        ("m.engine", TritonOptions(), "tensorrt"),
        ("m.plan", TritonOptions(), "tensorrt"),
        ("m.onnx", TritonOptions(backend="python"), "python"),
        ("m.onnx", TritonOptions(frames=True, python_path=("lib",)), "onnxruntime"),
    ],
)
def test_the_backend_follows_the_file_unless_asked(files, name, options, backend):
    assert choose_backend(files / name, options) == backend


@pytest.mark.parametrize(
    "name, options, line",
    [
        ("none.onnx", TritonOptions(), "file not found"),
        ("m.txt", TritonOptions(), "expected an .onnx file or a TensorRT engine (.engine/.plan), got .txt"),
        ("m.engine", TritonOptions(backend="onnxruntime"), "is a TensorRT engine (use --backend tensorrt)"),
        ("m.onnx", TritonOptions(backend="tensorrt"), "--backend tensorrt: takes a TensorRT engine"),
        ("m.engine", TritonOptions(kind="cpu"), "--kind cpu: a TensorRT engine runs on a GPU instance only"),
        ("m.onnx", TritonOptions(python_path=("lib",)), "--python-path: only Python-backend models read it"),
        ("m.onnx", TritonOptions(backend="python", frames=True), "--frames: the python backend takes frames itself"),
    ],
)
def test_mismatches_are_one_line_naming_the_flag(files, name, options, line):
    with pytest.raises(AibError) as refused:
        choose_backend(files / name, options)
    assert line in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "options, line",
    [
        (TritonOptions(kind="tpu"), "--kind: expected one of cpu, gpu, got 'tpu'"),
        (TritonOptions(backend="tf"), "--backend: expected one of onnxruntime, tensorrt, python, got 'tf'"),
        (TritonOptions(instances=0), "--instances must be >= 1"),
        (TritonOptions(max_pixels=0), "--max-pixels: expected a positive pixel count, got 0"),
    ],
)
def test_options_are_validated_before_anything_is_written(options, line):
    with pytest.raises(AibError, match=line.replace("(", r"\(").replace(")", r"\)")):
        options.validate()

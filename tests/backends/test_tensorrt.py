"""TensorRT engines: what runs without TensorRT here (sidecar, compatibility, snap pinning, Triton for
engines, one-line errors) and, where TensorRT and a GPU are present, a real build and run."""

import importlib.util
import json

import onnx
import pytest
from google.protobuf import text_format

from aib_deploy.backends.tensorrt.options import EngineOptions
from aib_deploy.backends.tensorrt.sidecar import compatibility_problems, engine_sidecar, sidecar_path
from aib_deploy.card.model_card import card_from_metadata
from aib_deploy.compare import Tolerances, compare_outputs
from aib_deploy.errors import AibError
from aib_deploy.files import file_sha256
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import load_predictor
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.schemas import validated
from tests.helpers.triton import triton_model_config


def tensorrt_available() -> bool:
    if importlib.util.find_spec("tensorrt") is None:
        return False
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return False
    error, count = cudart.cudaGetDeviceCount()
    return int(error) == 0 and count > 0


NEEDS_TENSORRT = pytest.mark.skipif(
    not tensorrt_available(), reason="needs TensorRT, cuda-python and an NVIDIA GPU (not present on this project's machines)"
)
WITHOUT_TENSORRT = pytest.mark.skipif(tensorrt_available(), reason="checks the message shown where TensorRT is missing")


@pytest.fixture
def fake_engine(demo_onnx, tmp_path):
    """An engine file with the sidecar `aib export engine` writes; the bytes are not a real engine."""
    engine = tmp_path / "demo.engine"
    engine.write_bytes(b"not a real engine")
    card = card_from_metadata({prop.key: prop.value for prop in onnx.load(str(demo_onnx)).metadata_props}, "demo")
    options = EngineOptions(min_batch=1, opt_batch=4, max_batch=16)
    sidecar = engine_sidecar(demo_onnx, card, options, "fp16", "10.13.3", "NVIDIA H100 80GB HBM3", "9.0")
    sidecar_path(engine).write_text(json.dumps(sidecar))
    return engine, sidecar


def test_sidecar_records_what_the_engine_needs(fake_engine, demo_onnx):
    engine, sidecar = fake_engine
    assert sidecar_path(engine).name == "demo.engine.json"
    assert sidecar["onnx_sha256"] == file_sha256(demo_onnx) and sidecar["precision"] == "fp16" and sidecar["strongly_typed"]
    assert sidecar["profile"] == {"input": "images", "min": 1, "opt": 4, "max": 16}
    assert sidecar["model_card"]["architecture"]["name"] == "wrn_cifar_10_2_qt"
    assert validated(sidecar_path(engine), "sidecar") == json.loads(json.dumps(sidecar))  # as written, in its schema
    assert engine.read_bytes() == b"not a real engine"  # nothing prepended to the engine


@pytest.mark.parametrize(
    "built, here, problem",
    [
        ({}, ("10.13.3", "NVIDIA H100 80GB HBM3", "9.0"), None),
        ({}, ("10.14.1", "NVIDIA H100 80GB HBM3", "9.0"), "built with TensorRT 10.13.3, this machine has 10.14.1"),
        ({}, ("10.13.3", "NVIDIA A100-SXM4-40GB", "8.0"), "built on NVIDIA H100 80GB HBM3 (compute capability 9.0)"),
        ({"version_compatible": True}, ("10.14.1", "NVIDIA H100 80GB HBM3", "9.0"), None),
        ({"version_compatible": True}, ("11.4.0", "NVIDIA H100 80GB HBM3", "9.0"), None),  # 10.x VC engines run on 11.x
        (
            {"version_compatible": True},
            ("10.2.0", "NVIDIA H100 80GB HBM3", "9.0"),
            "(version-compatible), this machine has the older",
        ),
        ({"hardware_compatibility": "ampere_plus"}, ("10.13.3", "NVIDIA A10", "8.6"), None),
        ({"hardware_compatibility": "ampere_plus"}, ("10.13.3", "Tesla T4", "7.5"), "Ampere or newer"),
    ],
)
def test_compatibility_problems(built, here, problem):
    sidecar = {"tensorrt_version": "10.13.3", "gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", **built}
    problems = compatibility_problems(sidecar, *here)
    assert problems == [] if problem is None else any(problem in text for text in problems)


def test_the_file_decides_the_precision(demo_onnx, tmp_path):
    from aib_deploy.backends.graph_regions import file_precision

    fp16 = tmp_path / "demo.fp16.onnx"
    assert call_aib("export", "fp16", demo_onnx, "-o", fp16, "--held-out", "2").returncode == 0
    int8 = tmp_path / "demo.int8.onnx"
    assert (
        call_aib(
            "export",
            "int8",
            demo_onnx,
            "-o",
            int8,
            "--calibration",
            "synthetic",
            "--count",
            "8",
            "--held-out",
            "8",
            "--float",
            "head",
            "--fail-under",
            "top1=0,index=0",
        ).returncode
        == 0
    )
    assert [file_precision(onnx.load(str(path))) for path in (demo_onnx, fp16, int8)] == ["fp32", "fp16", "int8"]


@pytest.mark.parametrize("flag, command", [("--fp16", "aib export fp16"), ("--int8", "aib export int8")])
def test_precision_flags_point_to_the_export_that_makes_such_a_file(demo_onnx, tmp_path, flag, command):
    result = call_aib("export", "engine", demo_onnx, "-o", tmp_path / "e.engine", flag)
    assert_one_line_error(result, f"{flag}: engines are strongly typed", command)


def test_bad_batch_profile_is_one_line(demo_onnx, tmp_path):
    result = call_aib("export", "engine", demo_onnx, "-o", tmp_path / "e.engine", "--min-batch", "4", "--opt-batch", "2")
    assert_one_line_error(result, "need 1 <= --min-batch <= --opt-batch <= --max-batch, got 4, 2, 32")


@WITHOUT_TENSORRT
def test_without_tensorrt_building_and_running_say_so_in_one_line(demo_onnx, fake_engine, tmp_path):
    assert_one_line_error(call_aib("export", "engine", demo_onnx, "-o", tmp_path / "e.engine"), "TensorRT is not installed here")
    engine, _ = fake_engine
    with pytest.raises(AibError, match="TensorRT is not installed here"):
        load_predictor(engine)


def test_engine_without_sidecar_is_one_line(tmp_path):
    engine = tmp_path / "lonely.engine"
    engine.write_bytes(b"x")
    with pytest.raises(AibError, match=r"no sidecar lonely\.engine\.json beside it; rebuild it"):
        load_predictor(engine)


def test_triton_repository_for_an_engine(fake_engine, tmp_path):
    engine, _ = fake_engine
    repository = tmp_path / "models"
    result = call_aib("export", "triton", engine, "--repository", repository, "--name", "demo_trt")
    assert result.returncode == 0, result.stderr
    schema = triton_model_config()
    config = text_format.Parse((repository / "demo_trt" / "config.pbtxt").read_text(), schema.ModelConfig())
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 16
    assert (repository / "demo_trt" / "1" / "model.plan").read_bytes() == engine.read_bytes()
    assert {(o.name, tuple(o.dims)) for o in config.output} == {
        ("logits", (8,)),
        ("attention", (1, 16, 16)),
        ("attention_index", (1, 16, 16)),
    }
    assert_one_line_error(
        call_aib("export", "triton", engine, "--repository", tmp_path / "r2", "--max-batch", "64"),
        "--max-batch: expected 1 to 16 (the model's largest batch), got 64",
    )
    assert_one_line_error(
        call_aib("export", "triton", engine, "--repository", tmp_path / "r3", "--kind", "cpu"), "GPU instance only"
    )


# fp32 engines may run convolutions in TF32, so logits and attention get TensorRT's usual 1e-3; an fp16 engine
# (from an `aib export fp16` file, its snap float32) must keep the class and the anchor of nearly every cell.
ENGINE_FP32 = Tolerances(logits_relative=1e-3, logits_absolute=1e-3, attention=1e-3, midpoint_margin=1e-3)


@NEEDS_TENSORRT
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_engine_agrees_with_onnx_runtime(demo_onnx, tmp_path, precision):
    from aib_deploy.backends.onnxrt import OnnxrtRunner
    from aib_deploy.backends.tensorrt.runner import TensorrtRunner
    from aib_deploy.runtime.preprocess import Preprocessor

    source = demo_onnx
    if precision == "fp16":
        source = tmp_path / "demo.fp16.onnx"
        assert call_aib("export", "fp16", demo_onnx, "-o", source, "--held-out", "8").returncode == 0
    engine = tmp_path / "demo.engine"
    result = call_aib("export", "engine", source, "-o", engine, "--max-batch", "16")
    assert result.returncode == 0, result.stderr
    frames, _, _ = make_dataset(16, 96, seed=9)
    with OnnxrtRunner(demo_onnx, device="cpu") as reference, TensorrtRunner(engine) as candidate:
        card = reference.card
        images = Preprocessor(card.input_size, card.mean, card.std).batch(list(frames))
        comparison = compare_outputs(reference.infer(images), candidate.infer(images), ENGINE_FP32)
        assert candidate.max_batch == 16
    if precision == "fp16":
        assert comparison.top1_agreement >= 0.97 and comparison.index_agreement >= 0.97, comparison.summary()
    else:
        assert comparison.passed, comparison.summary()

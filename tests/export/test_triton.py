"""`aib export triton`: the repository layouts (onnxruntime, tensorrt, python, the --frames ensemble), each
config parsed with Triton's own ModelConfig schema; tests/export/test_triton_server.py runs them on a real Triton."""

import json
import os
import re
import sysconfig
from pathlib import Path

import onnx
import onnxruntime
import pytest
from google.protobuf import text_format

from aib_deploy.backends.tensorrt.options import EngineOptions
from aib_deploy.backends.tensorrt.sidecar import engine_sidecar, sidecar_path
from aib_deploy.card.model_card import card_from_metadata
from aib_deploy.contract import MODEL_CARD_KEY
from aib_deploy.export.triton_python import (
    CLASSIFIER_TEMPLATE,
    ENVIRONMENT,
    ENVIRONMENT_MARK,
    MAX_PIXELS_KEY,
    PREPROCESS_TEMPLATE,
    PYTHON_PATH_KEY,
    TEMPLATES,
)
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.triton import parameters, read_config, triton_model_config


@pytest.fixture(scope="module")
def schema():
    return triton_model_config()


def test_repository_for_the_demo_model_parses_with_tritons_schema(demo_onnx, tmp_path, schema):
    repository = tmp_path / "models"
    result = call_aib("export", "triton", demo_onnx, "--repository", repository, "--name", "demo", "--max-batch", "16")
    assert result.returncode == 0, result.stderr
    folder = repository / "demo"
    assert (folder / "1" / "model.onnx").read_bytes() == demo_onnx.read_bytes()
    config = text_format.Parse((folder / "config.pbtxt").read_text(), schema.ModelConfig())
    assert config.name == "demo" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert [group.kind for group in config.instance_group] == [schema.ModelInstanceGroup.KIND_GPU]
    session = onnxruntime.InferenceSession(str(demo_onnx), providers=["CPUExecutionProvider"])
    declared = {(t.name, schema.DataType.Name(t.data_type), tuple(t.dims)) for t in [*config.input, *config.output]}
    types = {"tensor(float)": "TYPE_FP32", "tensor(int32)": "TYPE_INT32"}
    actual = {(v.name, types[v.type], tuple(v.shape[1:])) for v in [*session.get_inputs(), *session.get_outputs()]}
    assert declared == actual
    (logits,) = [output for output in config.output if output.name == "logits"]
    labels = (folder / logits.label_filename).read_text().split()
    card = json.loads(config.parameters["aib_deploy.model_card"].string_value)
    assert labels == card["labels"] and len(labels) == 8 and card["anchors"]


def test_second_version_and_cpu_instances(demo_onnx, tmp_path, schema):
    repository = tmp_path / "models"
    for version in ("1", "2"):
        result = call_aib(
            "export", "triton", demo_onnx, "--repository", repository, "--version", version, "--kind", "cpu", "--instances", "2"
        )
        assert result.returncode == 0, result.stderr
    (folder,) = repository.iterdir()
    assert folder.name == "aib_glyphs_wrn_cifar_10_2_qt_fp32" and {p.name for p in folder.iterdir()} >= {"1", "2"}
    config = text_format.Parse((folder / "config.pbtxt").read_text(), schema.ModelConfig())
    assert config.instance_group[0].kind == schema.ModelInstanceGroup.KIND_CPU and config.instance_group[0].count == 2
    assert_one_line_error(call_aib("export", "triton", demo_onnx, "--repository", repository, "--version", "2"), "already exists")


@pytest.mark.parametrize(
    "arguments, fragment, code",
    [
        (("--name", "bad name!"), "not a usable model name", 2),
        (("--max-batch", "64"), "--max-batch: expected 1 to 32 (the model's largest batch), got 64", 1),
        (("--backend", "tensorrt"), "--backend tensorrt: takes a TensorRT engine (.engine/.plan), got demo.onnx", 1),
        (("--backend", "python", "--frames"), "--frames: the python backend takes frames itself", 1),
        (("--python-path", "x"), "--python-path: only Python-backend models read it", 1),
    ],
    ids=["name", "max batch over the card's", "onnx for tensorrt", "python with frames", "python path unread"],
)
def test_bad_options_get_one_line(demo_onnx, tmp_path, arguments, fragment, code):
    """A value wrong in itself (a name) exits 2; one wrong for this model or these flags together exits 1."""
    result = call_aib("export", "triton", demo_onnx, "--repository", tmp_path / "r", *arguments)
    assert_one_line_error(result, fragment, code=code)


def test_default_names_say_the_precision_so_int8_and_fp32_live_side_by_side(demo_onnx, demo_int8, tmp_path):
    int8 = demo_int8
    repository = tmp_path / "models"
    for model in (demo_onnx, int8):
        result = call_aib("export", "triton", model, "--repository", repository)
        assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in repository.iterdir()) == [
        "aib_glyphs_wrn_cifar_10_2_qt_fp32",
        "aib_glyphs_wrn_cifar_10_2_qt_int8",
    ]


@pytest.fixture
def fake_engine(demo_onnx, tmp_path):
    """An engine file with the sidecar `aib export engine` writes (batches 1-16); the bytes are not an engine."""
    engine = tmp_path / "demo.engine"
    engine.write_bytes(b"not a real engine")
    card = card_from_metadata({prop.key: prop.value for prop in onnx.load(str(demo_onnx)).metadata_props}, "demo")
    sidecar = engine_sidecar(
        demo_onnx, card, EngineOptions(min_batch=1, opt_batch=4, max_batch=16), "fp16", "10.13.3", "NVIDIA H100 80GB HBM3", "9.0"
    )
    sidecar_path(engine).write_text(json.dumps(sidecar))
    return engine


def contract_tensors(demo_onnx) -> tuple[set, set]:
    """(inputs, outputs) of the ONNX file as (name, Triton type, dims without the batch)."""
    session = onnxruntime.InferenceSession(str(demo_onnx), providers=["CPUExecutionProvider"])
    types = {"tensor(float)": "TYPE_FP32", "tensor(int32)": "TYPE_INT32"}
    return tuple(
        {(v.name, types[v.type], tuple(v.shape[1:])) for v in values} for values in (session.get_inputs(), session.get_outputs())
    )


def declared(tensors, schema) -> set:
    return {(t.name, schema.DataType.Name(t.data_type), tuple(t.dims)) for t in tensors}


def test_python_backend_repository_parses_with_tritons_schema(demo_onnx, tmp_path, schema):
    repository, extra = tmp_path / "models", tmp_path / "numpy1"
    result = call_aib(
        "export",
        "triton",
        demo_onnx,
        "--repository",
        repository,
        "--backend",
        "python",
        "--name",
        "demo",
        "--kind",
        "cpu",
        "--python-path",
        extra,
        "--max-pixels",
        "1000000",
    )
    assert result.returncode == 0, result.stderr
    assert f"aib: warning: --python-path {extra}: no such folder here; written as given" in result.stderr
    folder = repository / "demo"
    assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.onnx", "model.py"]
    assert (folder / "1" / "model.onnx").read_bytes() == demo_onnx.read_bytes()
    script = (folder / "1" / "model.py").read_text()
    assert_written_from(script, CLASSIFIER_TEMPLATE)
    compile(script, "model.py", "exec")
    config = read_config(folder, schema)
    assert config.backend == "python" and not config.platform and config.max_batch_size == 32
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert [group.kind for group in config.instance_group] == [schema.ModelInstanceGroup.KIND_CPU]
    images, outputs = contract_tensors(demo_onnx)
    assert declared(config.input, schema) == images | {("frames", "TYPE_STRING", (1,))}
    assert all(tensor.optional for tensor in config.input)
    assert declared(config.output, schema) == outputs
    assert (folder / "labels.txt").read_text().split() == json.loads(parameters(config)[MODEL_CARD_KEY])["labels"]
    site_packages = str(Path(sysconfig.get_paths()["purelib"]).resolve())
    assert parameters(config)[PYTHON_PATH_KEY].split(os.pathsep) == [str(extra.resolve()), site_packages]
    assert parameters(config)[MAX_PIXELS_KEY] == "1000000"


@pytest.mark.parametrize("kind", ["onnx", "engine"])
def test_frames_ensemble_parses_with_tritons_schema(demo_onnx, fake_engine, tmp_path, schema, kind):
    model = demo_onnx if kind == "onnx" else fake_engine
    repository = tmp_path / "models"
    result = call_aib("export", "triton", model, "--repository", repository, "--name", "demo", "--frames", "--version", "3")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in repository.iterdir()) == ["demo", "demo_frames", "demo_preprocess"]
    model_config, preprocess, ensemble = (
        read_config(repository / name, schema) for name in ("demo", "demo_preprocess", "demo_frames")
    )
    assert model_config.platform == ("onnxruntime_onnx" if kind == "onnx" else "tensorrt_plan")
    images, outputs = contract_tensors(demo_onnx)
    assert preprocess.backend == "python" and preprocess.max_batch_size == model_config.max_batch_size
    assert declared(preprocess.input, schema) == {("frames", "TYPE_STRING", (1,))}
    assert declared(preprocess.output, schema) == images
    assert [group.kind for group in preprocess.instance_group] == [schema.ModelInstanceGroup.KIND_CPU]
    assert_written_from((repository / "demo_preprocess" / "3" / "model.py").read_text(), PREPROCESS_TEMPLATE)
    assert ensemble.platform == "ensemble" and ensemble.max_batch_size == model_config.max_batch_size
    assert declared(ensemble.input, schema) == {("frames", "TYPE_STRING", (1,))}
    assert declared(ensemble.output, schema) == outputs
    steps = [(s.model_name, s.model_version, dict(s.input_map), dict(s.output_map)) for s in ensemble.ensemble_scheduling.step]
    assert steps == [
        ("demo_preprocess", 3, {"frames": "frames"}, {"images": "images"}),
        ("demo", 3, {"images": "images"}, {name: name for name, _, _ in outputs}),
    ]
    assert (repository / "demo_frames" / "3").is_dir() and (repository / "demo_frames" / "labels.txt").is_file()
    again = call_aib("export", "triton", model, "--repository", repository, "--name", "demo", "--frames", "--version", "3")
    assert_one_line_error(again, "already exists")


def test_engine_for_the_wrong_backend_gets_one_line(fake_engine, tmp_path):
    result = call_aib("export", "triton", fake_engine, "--repository", tmp_path / "r", "--backend", "python")
    assert_one_line_error(result, "--backend python: runs .onnx files; demo.engine is a TensorRT engine")


def assert_written_from(script: str, template: str) -> None:
    """model.py is the template with the environment code where its mark was."""
    before, after = (TEMPLATES / template).read_text().split(ENVIRONMENT_MARK)
    assert script.startswith(before) and script.endswith(after) and ENVIRONMENT_MARK not in script
    assert script.count("def use_exporting_environment") == 1 and "\nuse_exporting_environment()\n" in script


def test_templates_read_the_writers_keys():
    """The code that finds aib-deploy runs before it is importable, so it spells its key out, which must match;
    the templates import the other keys from the writer.
    Each template marks once where the code that finds aib-deploy goes."""
    classifier, preprocess = ((TEMPLATES / name).read_text() for name in (CLASSIFIER_TEMPLATE, PREPROCESS_TEMPLATE))
    assert f'key: "{re.escape(PYTHON_PATH_KEY)}"' in (TEMPLATES / ENVIRONMENT).read_text()
    for text in (classifier, preprocess):
        assert "from aib_deploy.export.triton_python import MAX_PIXELS_KEY" in text and text.count(ENVIRONMENT_MARK) == 1


def test_a_repository_that_cannot_be_created_names_the_flag(demo_onnx):
    result = call_aib("export", "triton", demo_onnx, "--repository", "/proc/aib-nowhere")
    assert_one_line_error(result, "--repository /proc/aib-nowhere: cannot create /proc/aib-nowhere")

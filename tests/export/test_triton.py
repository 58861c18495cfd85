"""`aib export triton`: the repository layout, checked against Triton's own ModelConfig schema."""
import json

import onnxruntime
import pytest
from google.protobuf import text_format

from tests.helpers.cli import assert_one_line_error, run_aib
from tests.helpers.triton import triton_model_config


@pytest.fixture(scope="module")
def schema():
    return triton_model_config()


def test_repository_for_the_demo_model_parses_with_tritons_schema(demo_onnx, tmp_path, schema):
    repository = tmp_path / "models"
    result = run_aib("export", "triton", demo_onnx, "--repository", repository, "--name", "demo", "--max-batch", "16")
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
        result = run_aib("export", "triton", demo_onnx, "--repository", repository, "--version", version, "--kind", "cpu",
                         "--instances", "2")  # fmt: skip
        assert result.returncode == 0, result.stderr
    (folder,) = repository.iterdir()
    assert folder.name == "aib_glyphs_wrn_cifar_10_2_qt_fp32" and {p.name for p in folder.iterdir()} >= {"1", "2"}
    config = text_format.Parse((folder / "config.pbtxt").read_text(), schema.ModelConfig())
    assert config.instance_group[0].kind == schema.ModelInstanceGroup.KIND_CPU and config.instance_group[0].count == 2
    assert_one_line_error(run_aib("export", "triton", demo_onnx, "--repository", repository, "--version", "2"),
                          "already exists")  # fmt: skip


@pytest.mark.parametrize(
    "arguments, fragment",
    [(("--name", "bad name!"), "not a usable model name"), (("--max-batch", "0"), "positive batch size")],
    ids=["name", "max batch"],
)
def test_bad_options_get_one_line(demo_onnx, tmp_path, arguments, fragment):
    assert_one_line_error(run_aib("export", "triton", demo_onnx, "--repository", tmp_path / "r", *arguments), fragment)


def test_repository_that_is_a_file_gets_one_line(demo_onnx, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    assert_one_line_error(run_aib("export", "triton", demo_onnx, "--repository", target), "is not a folder")


def test_default_names_say_the_precision_so_int8_and_fp32_live_side_by_side(demo_onnx, tmp_path):
    int8 = tmp_path / "demo.int8.onnx"
    assert run_aib("export", "int8", demo_onnx, "--calibration", "synthetic", "-o", int8, "--count", "8", "--held-out", "8",
                   "--fail-under", "top1=0,index=0").returncode == 0  # fmt: skip
    repository = tmp_path / "models"
    for model in (demo_onnx, int8):
        result = run_aib("export", "triton", model, "--repository", repository)
        assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in repository.iterdir()) == ["aib_glyphs_wrn_cifar_10_2_qt_fp32", "aib_glyphs_wrn_cifar_10_2_qt_int8"]

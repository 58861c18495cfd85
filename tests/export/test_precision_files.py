"""Reduced-precision files on the demo model: `aib check` catches the defects of the first fp16 and INT8
files (rebuilt here with the tools' defaults), every chain of precisions is one line or a correct file,
and a failed run leaves no file behind."""

import shutil
import signal
import subprocess
import time

import onnx
import pytest

from aib_deploy.backends.graph_regions import float32_nodes
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.files import written_whole
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime.preprocess import Preprocessor
from tests.helpers.cli import AIB, assert_error_after_progress, assert_one_line_error, call_aib
from tests.helpers.onnx_files import assert_valid_onnx


def failed_rules(result) -> list[str]:
    """The rules `aib check` printed FAIL for, one line each."""
    return [line.split(":")[0].removeprefix("FAIL ") for line in result.stdout.splitlines() if line.startswith("FAIL ")]


@pytest.fixture(scope="module")
def first_fp16(demo_onnx, tmp_path_factory):
    """The fp16 file as the first `aib export fp16` wrote it: ONNX Runtime's converter output, untouched."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(demo_onnx))
    path = tmp_path_factory.mktemp("first") / "demo.fp16.onnx"
    onnx.save(convert_float_to_float16(model, keep_io_types=True, node_block_list=float32_nodes(model)), str(path))
    return path


@pytest.fixture(scope="module")
def first_int8(demo_onnx, tmp_path_factory):
    """The INT8 file as ONNX Runtime's quantizer writes it with our settings but BatchNormalization left to it."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from aib_deploy.card.model_card import card_from_metadata

    model = onnx.load(str(demo_onnx))
    card = card_from_metadata({p.key: p.value for p in model.metadata_props}, source="demo")
    images = Preprocessor(card.input_size, card.mean, card.std).batch(list(make_dataset(16, 96, seed=5)[0]))

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"images": images}])

        def get_next(self):
            return next(self.batches, None)

    path = tmp_path_factory.mktemp("first") / "demo.int8.onnx"
    quantize_static(
        model,
        str(path),
        Frames(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=float32_nodes(model),
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
    )
    return path


def test_check_fails_the_first_fp16_file_with_one_line_per_rule(first_fp16):
    result = call_aib("check", first_fp16)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert {"topological order", "full ONNX check", "float32 anchor snap"} <= set(failed_rules(result))
    assert len(failed_rules(result)) == len(set(failed_rules(result)))  # one line per rule, however many problems
    assert "before any node makes it" in result.stdout and "advanced.html#strongly-typed-networks" in result.stdout


def test_check_fails_the_first_int8_file_on_its_batch_normalization(first_int8):
    result = call_aib("check", first_int8)
    assert result.returncode == 1
    assert {"weight Q/DQ placement", "BatchNormalization in float"} <= set(failed_rules(result))
    assert "quantized-types-explicit-quantization.html" in result.stdout


@pytest.mark.parametrize("fixture", ["demo_onnx", "demo_int8", "demo_fp16"])
def test_check_passes_what_the_export_commands_write(fixture, request):
    result = call_aib("check", request.getfixturevalue(fixture))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   float32 anchor snap" in result.stdout and "ok   BatchNormalization in float" in result.stdout


def test_int8_file_keeps_batch_normalization_float_and_is_valid(demo_int8):
    model = onnx.load(str(demo_int8))
    producer = {tensor: node for node in model.graph.node for tensor in node.output}
    norms = [node for node in model.graph.node if node.op_type == "BatchNormalization"]
    assert norms and all(producer.get(t) is None or producer[t].op_type != "DequantizeLinear" for n in norms for t in n.input)
    readers = {tensor for node in norms for tensor in node.input}
    assert not any(producer.get(t) is not None and producer[t].op_type == "Conv" for t in readers)  # folded already
    assert_valid_onnx(demo_int8)


def test_reduced_precision_files_are_not_converted_again(demo_fp16, demo_int8, tmp_path):
    for command, source, already in (
        ("fp16", demo_fp16, "fp16"),
        ("int8", demo_fp16, "fp16"),
        ("int8", demo_int8, "int8"),
        ("fp16", demo_int8, "int8"),
    ):
        output = tmp_path / f"again.{command}.onnx"
        extra = ("--calibration", "synthetic") if command == "int8" else ()
        result = call_aib("export", command, source, "-o", output, *extra)
        assert_error_after_progress(result, f"already {already}", f"aib export {command} converts the float32 file")
        assert not list(tmp_path.iterdir())


def test_one_step_from_a_checkpoint_exports_the_onnx_file_first_and_reuses_it(tmp_path):
    """`aib export fp16 CKPT.pth` as `yolo export format=engine` takes a .pt: the float32 file is exported
    beside the checkpoint with its parity check, then converted; the next command reuses it."""
    checkpoint = tmp_path / "glyphs.pth"
    shutil.copy(bundled_checkpoint(), checkpoint)
    result = call_aib("export", "fp16", checkpoint, "--held-out", "2")
    assert result.returncode == 0, result.stderr
    assert "parity batch 1: ok" in result.stdout and f"wrote {tmp_path / 'glyphs.fp16.onnx'}" in result.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["glyphs.fp16.onnx", "glyphs.onnx", "glyphs.pth"]
    repository = tmp_path / "repository"
    result = call_aib("export", "triton", checkpoint, "--repository", repository)
    assert result.returncode == 0, result.stderr
    assert f"using {tmp_path / 'glyphs.onnx'}, exported from glyphs.pth before" in result.stdout
    assert (repository / "aib_glyphs_wrn_cifar_10_2_qt_fp32" / "1" / "model.onnx").is_file()


def test_one_step_leaves_an_onnx_file_of_another_checkpoint_alone(demo_fp16, tmp_path):
    checkpoint = tmp_path / "glyphs.pth"
    shutil.copy(bundled_checkpoint(), checkpoint)
    shutil.copy(demo_fp16, tmp_path / "glyphs.onnx")  # not the float32 export of this checkpoint
    result = call_aib("export", "int8", checkpoint, "--calibration", "synthetic")
    assert_one_line_error(result, "glyphs.onnx: already there and not the float32 export of glyphs.pth")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["glyphs.onnx", "glyphs.pth"]


@pytest.mark.parametrize("command", ["fp16", "int8", "engine", "check"])
def test_files_that_are_not_onnx_get_one_line(command, tmp_path):
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model")
    arguments = ["check", fake] if command == "check" else ["export", command, fake, "-o", tmp_path / "x.onnx"]
    if command == "engine":
        arguments[-1] = tmp_path / "x.engine"
    if command == "int8":
        arguments += ["--calibration", "synthetic"]
    assert_error_after_progress(call_aib(*arguments), "fake.onnx: not an ONNX file (DecodeError)")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fake.onnx"]


def test_a_block_that_raises_leaves_neither_the_file_nor_its_partial(tmp_path):
    output = tmp_path / "m.onnx"
    output.write_bytes(b"the previous file")
    with pytest.raises(RuntimeError), written_whole(output) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("stopped")
    assert output.read_bytes() == b"the previous file" and sorted(tmp_path.iterdir()) == [output]
    with written_whole(output) as partial:
        partial.write_bytes(b"whole")
    assert output.read_bytes() == b"whole" and sorted(tmp_path.iterdir()) == [output]


@pytest.mark.parametrize(
    "signum, code, line",
    [(signal.SIGINT, 130, "aib: interrupted"), (signal.SIGTERM, 143, "aib: terminated")],
    ids=["INT", "TERM"],
)
def test_an_interrupted_int8_export_leaves_no_file(demo_onnx, tmp_path, signum, code, line):
    """Ctrl-C or SIGTERM while the quantizer writes its trials: one line, and nothing in the folder."""
    output = tmp_path / "demo.int8.onnx"
    arguments = [AIB, "export", "int8", demo_onnx, "--calibration", "synthetic", "-o", output, "--count", "32"]
    # Started as from an interactive shell: pytest-xdist workers ignore SIGINT, and a child inherits that.
    process = subprocess.Popen(
        list(map(str, arguments)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*partial*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code and stderr.strip().splitlines()[-1] == line, stderr
    assert not list(tmp_path.iterdir())

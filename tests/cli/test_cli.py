"""The `aib` command as a user runs it: real processes, real files."""

import argparse
import functools
import importlib
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from aib_deploy.cli import build_parser
from tests.helpers.cli import assert_one_line_error, call_aib
from tests.helpers.package import all_modules, needs_torch


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command the parser knows, read off the parser itself."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths.extend(command_paths(child, (*prefix, name)))
    return paths


COMMANDS = command_paths(build_parser())


def test_the_command_list_covers_every_family():
    assert {path[0] for path in COMMANDS if path} == {
        "export",
        "check",
        "info",
        "compare",
        "predict",
        "eval",
        "bench",
        "demo",
        "serve",
        "stream",
        "perf",
    }
    assert {path[1] for path in COMMANDS if len(path) == 2} == {"onnx", "int8", "fp16", "engine", "triton"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda path: " ".join(path) or "aib")
def test_help_works(command):
    result = call_aib(*command, "--help")
    assert result.returncode == 0 and "usage: aib" in result.stdout, result.stderr


def test_every_module_imports():
    modules = all_modules()
    assert {"aib_deploy.export.int8", "aib_deploy.serving.server", "aib_deploy.backends.tensorrt.runner"} <= set(modules)
    for name in modules:
        importlib.import_module(name)


def test_modules_outside_export_do_not_import_torch():
    torch_free = [name for name in all_modules() if not needs_torch(name)]
    code = (
        "import sys, importlib\n"
        f"for name in {torch_free!r}: importlib.import_module(name)\n"
        "from aib_deploy.cli import build_parser; build_parser()\n"
        "heavy = [m for m in ('torch', 'onnx', 'onnxscript') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_parser_does_not_import_grpc():
    """`main` sets GRPC_VERBOSITY (gRPC's C core logs a failed TLS handshake at INFO on the stderr our one
    line goes to), and the C core reads it when grpc is first imported: that must come after."""
    code = "import sys\nfrom aib_deploy.cli import build_parser\nbuild_parser()\nassert 'grpc' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_export_writes_a_checked_model_and_reports_parity_with_the_overrides_in_its_card(case_checkpoint, tmp_path):
    """One export (they take seconds each) for both: the checks it prints, and --labels, --mean and --std
    reaching the card, the normalization the parity inputs then use."""
    import json

    import onnx

    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"thing {index}\n" for index in range(100)))
    output = tmp_path / "out" / "vgg.onnx"
    normalization = ["--mean", "0.5", "0.5", "0.5", "--std", "0.25", "0.25", "0.25"]
    checkpoint = case_checkpoint("vgg_aib_qt_cifar100")
    result = call_aib("export", "onnx", checkpoint, "-o", output, "--labels", labels, *normalization)
    assert result.returncode == 0, result.stderr
    assert "onnx.checker full check passed" in result.stdout
    assert "parity batch 1: ok" in result.stdout and "parity batch 3: ok" in result.stdout
    assert "attention-index agreement 100.0000%" in result.stdout
    assert "dataset cifar100" in result.stdout
    props = {p.key: p.value for p in onnx.load(str(output), load_external_data=False).metadata_props}
    card = json.loads(props["aib_deploy.model_card"])
    assert card["labels"][3] == "thing 3" and card["mean"] == [0.5] * 3 and card["std"] == [0.25] * 3


@pytest.mark.parametrize(
    "extra, fragments, code",
    [
        (["--dataset", "cifar10"], ["--dataset: cifar10 has 10 classes but the model predicts 100"], 1),
        (["--opset", "13"], ["--opset: expected 18 to", "got 13"], 2),
        (["--opset", "99"], ["--opset: expected 18 to", "the newest this onnx", "got 99"], 2),  # once a traceback, exit 0
        (["--std", "0", "1", "1"], ["--std: values must be positive"], 2),
        (["--mean", "1e308", "1", "1"], ["--mean: expected values within +-1e+06, got (1e+308"], 2),  # once nan
        (["--std", "1e-9", "1", "1"], ["--std: expected values of at least 1e-06"], 2),
        (["--weights", "net_ema"], ["no 'net_ema' weights; model_states holds net"], 1),
    ],
    ids=["dataset", "old opset", "unknown opset", "std", "huge mean", "tiny std", "weights"],
)
def test_bad_options_get_one_line(case_checkpoint, tmp_path, extra, fragments, code):
    """A value wrong in itself exits 2, as a usage error; one wrong for this checkpoint exits 1."""
    result = call_aib("export", "onnx", case_checkpoint("vgg_aib_qt_cifar100"), "-o", tmp_path / "m.onnx", *extra)
    assert_one_line_error(result, *fragments, code=code)
    assert not (tmp_path / "m.onnx").exists()


def test_duplicate_labels_are_refused(tmp_path):
    from aib_deploy.demo.run import bundled_checkpoint

    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\nb\ne\nf\ng\nh\n")
    result = call_aib("export", "onnx", bundled_checkpoint(), "-o", tmp_path / "m.onnx", "--labels", labels)
    assert_one_line_error(result, f"--labels {labels}: 'b' is the label of classes 1 and 3; labels must differ")
    assert not (tmp_path / "m.onnx").exists()


def test_bad_checkpoints_get_one_line(tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(b"PK\x03\x04" + os.urandom(64))
    text = tmp_path / "notes.txt"
    text.write_text("not weights\n")
    for path, fragment in [
        (truncated, "not a readable PyTorch checkpoint"),
        (text, "not a PyTorch checkpoint"),
    ]:
        assert_one_line_error(call_aib("export", "onnx", path, "-o", tmp_path / "m.onnx"), str(path), fragment)


def test_wrong_label_count_gets_one_line(case_checkpoint, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    result = call_aib("export", "onnx", case_checkpoint("wrn_aib_16_2_cifar10"), "-o", tmp_path / "m.onnx", "--labels", labels)
    assert_one_line_error(result, "--labels: 2 labels given but the model predicts 10 classes")


def test_a_missing_extra_is_one_line(case_checkpoint, tmp_path):
    """As on a serving-only install: torch cannot be imported."""
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from aib_deploy.cli import main\n"
        f"sys.exit(main(['export', 'onnx', {str(case_checkpoint('wrn_aib_16_2_cifar10'))!r}, '-o', {str(tmp_path / 'm.onnx')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert_one_line_error(result, "needs torch", "pip install -e '.[export]'")


def test_a_checkpoint_that_runs_code_is_refused_by_the_command(tmp_path):
    import torch

    marker = tmp_path / "pwned"

    class Payload:  # pickled as the call it reduces to: os.system, which loading would run
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": {}, "args": Payload()}, tmp_path / "evil.pth")
    assert not marker.exists()
    result = call_aib("export", "onnx", tmp_path / "evil.pth", "-o", tmp_path / "m.onnx")
    assert_one_line_error(result, "refused to load the object", "never runs code")
    assert not marker.exists()


@pytest.mark.parametrize(
    "command, fragment",
    [
        (["predict", "m.onnx", "x.png", "--topk", "3"], "aib predict: unknown option --topk; did you mean --top-k?"),
        (["export", "onnx", "c.pth", "--ouput", "m.onnx"], "aib export onnx: unknown option --ouput; did you mean --output?"),
        (["serve", "m.onnx", "--bogus"], "aib serve: unknown option --bogus; see `aib serve --help`"),
    ],
    ids=["predict", "export-onnx", "serve"],
)
def test_a_mistyped_option_is_named_for_its_command_with_a_suggestion(command, fragment):
    result = call_aib(*command)
    assert result.returncode == 2 and result.stderr.strip() == f"aib: error: {fragment}"


def test_outputs_default_to_beside_the_input(demo_onnx, tmp_path):
    import shutil

    model = tmp_path / "demo.onnx"
    shutil.copyfile(demo_onnx, model)
    result = call_aib("export", "fp16", model, "--held-out", "2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo.fp16.onnx").is_file() and "wrote " + str(tmp_path / "demo.fp16.onnx") in result.stdout


def test_backend_tensorrt_on_an_onnx_file_says_what_it_runs(demo_onnx, tmp_path):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8, 3), np.uint8))
    result = call_aib("predict", demo_onnx, tmp_path / "x.png", "--backend", "tensorrt")
    assert_one_line_error(result, "--backend tensorrt: runs TensorRT engines (.engine, .plan), got demo.onnx")


@functools.cache  # read, never changed: test_bad_input asks for one per generated case
def parser_of(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


@pytest.mark.parametrize(
    "arguments",
    [
        ("export", "fp16", "MODEL", "-o", "/proc/1/model.fp16.onnx", "--held-out", "1"),
        ("eval", "MODEL", "DATA", "--output", "/proc/1/eval"),
        ("bench", "MODEL", "--runs", "1", "--batch", "1", "--warmup", "0", "--output", "/proc/1/bench"),
    ],
    ids=lambda arguments: " ".join(arguments[:2]),
)
def test_an_output_the_machine_will_not_write_is_one_line(arguments, demo_onnx, tmp_path):
    """/proc/1 exists and is a folder, so the path passes parsing; the write itself is refused, even to root."""
    data = tmp_path / "list.csv"
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "x.png"), np.zeros((32, 32, 3), np.uint8))
    data.write_text("x.png,0\n")
    argv = [str(demo_onnx) if item == "MODEL" else str(data) if item == "DATA" else item for item in arguments]
    result = call_aib(*argv)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("aib: error: ") and "/proc/1/" in result.stderr


def test_ctrl_c_inside_the_exporter_is_interrupted_not_a_traceback(monkeypatch, tmp_path):
    """torch.onnx.export wraps a KeyboardInterrupt in its own error (seen as a traceback when Ctrl-C came
    during tracing); the export unwraps it, so the CLI says 'interrupted' and exits 130."""
    import torch

    from aib_deploy.demo.run import bundled_checkpoint

    def export_interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("Failed to export the model with torch.export") from interrupt

    monkeypatch.setattr(torch.onnx, "export", export_interrupted)
    result = call_aib("export", "onnx", bundled_checkpoint(), "-o", tmp_path / "m.onnx")
    assert result.returncode == 130 and result.stderr.strip() == "aib: interrupted", result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_an_engine_from_a_checkpoint_without_tensorrt_leaves_no_onnx_file(tmp_path):
    import importlib.util
    import shutil

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here: the engine would be built")

    from aib_deploy.demo.run import bundled_checkpoint

    checkpoint = tmp_path / "model.pth"
    shutil.copy(bundled_checkpoint(), checkpoint)
    result = call_aib("export", "engine", checkpoint, "-o", tmp_path / "model.engine")
    assert_one_line_error(result, "TensorRT is not installed here")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.pth"]


def test_a_demo_stopped_before_writing_leaves_no_empty_folder(monkeypatch, tmp_path):
    import aib_deploy.demo.run as demo

    def interrupted(output):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "export_demo_model", interrupted)
    result = call_aib("demo", "--output", tmp_path / "new")
    assert result.returncode == 130 and not (tmp_path / "new").exists()


def test_ctrl_c_while_the_command_modules_load_is_interrupted_not_a_traceback():
    """Ctrl-C arrives before any handler can be installed: while `aib` imports its command modules."""
    import subprocess
    import sys

    hook = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupting(name, *args, **kwargs):\n"
        "    if name == 'localization':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupting\n"
        "from aib_deploy.cli import main\n"
    )
    result = subprocess.run([sys.executable, "-c", hook], capture_output=True, text=True, timeout=60)
    assert result.returncode == 130 and result.stderr == "aib: interrupted\n", result.stderr

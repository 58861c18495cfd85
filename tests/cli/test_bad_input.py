"""Bad input for every command, generated from the parser: each argument that takes a value declares its kind
(`aib_deploy.cli.paths` and the number types of `aib_deploy.cli.options`), and each kind has its wrong values.

A case runs the command as a user would, with every other argument valid, and expects a non-zero exit, one
`aib: error:` line naming the value, no traceback and nothing written. A new command or flag is covered as
soon as it is declared; one declared without a kind fails `test_every_argument_declares_its_kind`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from aib_deploy.cli.export_steps import gate_text
from aib_deploy.cli.options import (
    finite_float,
    non_negative_int,
    port_number,
    positive_int,
    server_address,
    thread_count,
    timeout_seconds,
)
from aib_deploy.cli.paths import MODEL_KINDS, InputPath, ModelPath, OutputPath, plain_value
from aib_deploy.cli.perf import concurrency_range, rate_range, window_ms
from aib_deploy.demo.run import bundled_checkpoint
from tests.cli.test_cli import COMMANDS, parser_of
from tests.helpers.cli import call_aib
from tests.helpers.schemas import validated

NUMBER_TYPES = {
    positive_int: ("0", "-1", "nan", "two", "2147483648"),
    non_negative_int: ("-1", "1.5"),
    port_number: ("-1", "65536", "http"),
    finite_float: ("nan", "inf", "-inf", "1e400", "abc"),
    server_address: ("127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1", ":50051"),
    concurrency_range: ("0", "8:2", "1:2:3:4", "one", "1:2000"),
    rate_range: ("0", "-5", "8:2", "1:2:0", "1:2:3:4", "nan", "inf", "1e7", "1:5000", "fast"),
    thread_count: ("0", "-1", "1025", "1000000000000", "many"),
    gate_text: ("", ",", "top1=abc", "foo=1", "top1=1.5", "top1", "top1=0.5,top1=0.9"),
    plain_value: ("",),
    timeout_seconds: ("0", "-5", "nan", "86401", "soon"),
    window_ms: ("0", "-1", "3600001", "1.5"),
}
EVERY_PATH = ("empty", "a name too long")  # "" would mean the current folder; 300 bytes the system refuses
PATH_CASES = {  # what every path of a kind is tried with; MODEL kinds not accepted are added per argument
    "input file": ("missing", "a folder", "a FIFO", *EVERY_PATH),
    "input folder": ("missing", "a file", *EVERY_PATH),
    "input file or folder": ("missing", "a FIFO", *EVERY_PATH),
    "model": (
        *("missing", "a folder", "a FIFO", "text named .onnx", "text named .pth", "text named .engine", "text named .txt"),
        *EVERY_PATH,
    ),
    "output file": ("a folder", "a folder with a slash", "inside a file", *EVERY_PATH),
    "output folder": ("a file", "inside a file", *EVERY_PATH),
    "output file or folder": ("inside a file", *EVERY_PATH),
}
# Every command with valid arguments that finish in moments; a case replaces or adds one argument.
VALID = {
    ("export", "onnx"): {"checkpoint": "CHECKPOINT", "--output": "out/model.onnx"},
    ("export", "int8"): {
        "model": "FLOAT32",
        "--calibration": "synthetic",
        "--count": "2",
        "--held-out": "2",
        "--output": "out/m.onnx",
    },
    ("export", "fp16"): {"model": "FLOAT32", "--held-out": "1", "--output": "out/model.fp16.onnx"},
    ("export", "engine"): {"model": "FLOAT32", "--output": "out/model.engine"},
    ("export", "triton"): {"model": "FLOAT32", "--repository": "out/repository"},
    ("check",): {"model": "FLOAT32"},
    ("info",): {"model": "FLOAT32"},
    ("compare",): {"reference": "FLOAT32", "candidate": "FP16", "--count": "2"},
    ("predict",): {"model": "FLOAT32", "input": "IMAGE", "--output": "out/picture.png"},
    ("eval",): {"model": "FLOAT32", "data": "DATA"},
    ("bench",): {"models": "FLOAT32", "--batch": "1", "--runs": "1", "--warmup": "0"},
    ("demo",): {"--output": "out/demo"},
    ("serve",): {"model": "FLOAT32", "--port": "0"},
    ("stream",): {"server": "127.0.0.1:9", "source": "VIDEO", "--output": "out/stream.mp4"},
    ("perf",): {"server": "127.0.0.1:9", "--connect-timeout": "1"},
}


def leaf_commands() -> list[tuple[str, ...]]:
    return [
        path for path in COMMANDS if path and not any(isinstance(a, argparse._SubParsersAction) for a in parser_of(path)._actions)
    ]


def value_actions(path: tuple[str, ...]) -> list[argparse.Action]:
    return [
        action
        for action in parser_of(path)._actions
        if action.nargs != 0 and not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
    ]


def name_of(action: argparse.Action) -> str:
    return action.option_strings[-1] if action.option_strings else action.dest


def kind_of(action: argparse.Action) -> str | None:
    kind = action.type
    if isinstance(kind, ModelPath):
        return "model"
    if isinstance(kind, InputPath):
        return f"input {kind.what}"
    if isinstance(kind, OutputPath):
        return f"output {kind.what}"
    return None


@dataclass(frozen=True)
class Case:
    path: tuple[str, ...]
    argument: str
    wrong: str

    def __str__(self) -> str:
        return f"{' '.join(self.path)} {self.argument} {self.wrong}"


def generated_cases() -> list[Case]:
    cases = []
    for path in leaf_commands():
        for action in value_actions(path):
            kind = kind_of(action)
            wrongs: tuple[str, ...] = NUMBER_TYPES.get(action.type, ())
            if kind is not None:
                wrongs = PATH_CASES[kind]
            if kind == "model":
                wrongs += tuple(f"a {model} file" for model in MODEL_KINDS if model not in action.type.accepts)
            cases.extend(Case(path, name_of(action), wrong) for wrong in wrongs)
    return cases


CASES = generated_cases()


def test_every_argument_declares_its_kind():
    """Plain int, float or str would take anything: every argument names what it takes."""
    declared = {*NUMBER_TYPES, plain_value}
    loose = [
        f"{' '.join(path)} {name_of(action)}"
        for path in leaf_commands()
        for action in value_actions(path)
        if action.choices is None and kind_of(action) is None and action.type not in declared
    ]
    assert not loose, loose


def test_every_command_has_valid_arguments_and_cases():
    assert set(VALID) == set(leaf_commands())
    assert {case.path for case in CASES} == set(leaf_commands()) and len(CASES) > 250


@pytest.fixture(scope="module")
def files(tmp_path_factory, demo_onnx, demo_int8, demo_fp16) -> dict[str, Path]:
    """Real files of every kind, and the wrong things, in one folder the cases run in."""
    folder = tmp_path_factory.mktemp("bad-input")
    image = np.zeros((40, 40, 3), np.uint8)
    cv2.circle(image, (20, 20), 12, (255, 255, 255), -1)
    cv2.imwrite(str(folder / "picture.png"), image)
    writer = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (40, 40))
    for _ in range(3):
        writer.write(image)
    writer.release()
    (folder / "images").mkdir()
    shutil.copy(folder / "picture.png", folder / "images" / "picture.png")
    (folder / "data.csv").write_text("path,label\npicture.png,0\n")
    (folder / "a folder").mkdir()
    os.mkfifo(folder / "fifo.onnx")  # reading it would block: refused while parsing
    (folder / "a file.txt").write_text("not what was asked for\n")
    for suffix in (".onnx", ".pth", ".engine", ".txt"):
        (folder / f"text{suffix}").write_text("not a model\n")
    return {
        "CHECKPOINT": bundled_checkpoint(),
        "FLOAT32": demo_onnx,
        "FP16": demo_fp16,
        "INT8": demo_int8,
        "IMAGE": folder / "picture.png",
        "DATA": folder / "data.csv",
        "VIDEO": folder / "clip.mp4",
        "folder": folder,
    }


def wrong_value(wrong: str, files: dict[str, Path]) -> str:
    folder = files["folder"]
    named = {
        "missing": folder / "missing.onnx",
        "a folder": folder / "a folder",
        "a FIFO": folder / "fifo.onnx",
        "a folder with a slash": f"{folder / 'new folder'}/",
        "a file": folder / "a file.txt",
        "inside a file": folder / "a file.txt" / "out.onnx",
        "a checkpoint file": files["CHECKPOINT"],
        "a float32 file": files["FLOAT32"],
        "a fp16 file": files["FP16"],
        "a int8 file": files["INT8"],
        "a engine file": folder / "text.engine",
        "empty": "",
        "a name too long": folder / ("a" * 300 + ".onnx"),
    }
    if wrong.startswith("text named "):
        return str(folder / f"text{wrong.removeprefix('text named ')}")
    return str(named.get(wrong, wrong))


def command_line(case: Case, files: dict[str, Path], value: str) -> list[str]:
    parser = parser_of(case.path)
    chosen = {**VALID[case.path], case.argument: value}

    def resolved(item: str) -> str:
        return str(files[item]) if item in files else str(files["folder"] / item) if item.startswith("out/") else item

    positionals = [resolved(chosen[a.dest]) for a in parser._actions if not a.option_strings and a.dest in chosen]
    options = []
    for flag, item in chosen.items():
        if flag.startswith("-"):
            action = parser._option_string_actions[flag]
            width = action.nargs if isinstance(action.nargs, int) else 1
            if width == 1:
                options.append(f"{flag}={resolved(item)}")
            else:  # --mean R G B: argparse would read a value such as -inf there as an option
                options += [flag, *[resolved(item).lstrip("-")] * width]
    return [*case.path, *positionals, *options]


def run_with_deadline(argv: list[str], seconds: float = 120):
    """`call_aib` on a thread: a case the command wrongly accepts (a server that starts) fails, not hangs."""
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(call_aib(*argv)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"aib {' '.join(argv)} still running after {seconds} s: the bad value was taken"
    return outcome[0]


def written(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_wrong_value_is_one_line_before_any_work(case, files):
    value = wrong_value(case.wrong, files)
    argv = command_line(case, files, value)
    before = written(files["folder"])
    result = run_with_deadline(argv)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("aib: error: ")]
    assert result.returncode not in (0, None) and len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert case.argument in errors[0] or Path(value.rstrip("/")).name in errors[0], errors[0]
    assert written(files["folder"]) == before, "a failed command left files behind"


JSON_COMMANDS = [path for path in leaf_commands() if "--json" in parser_of(path)._option_string_actions]


def test_the_commands_that_report_results_all_take_json():
    assert {" ".join(path) for path in JSON_COMMANDS} == {
        "check",
        "compare",
        "info",
        "export onnx",
        "export int8",
        "export fp16",
        "export engine",
        "export triton",
        "perf",
    }


@pytest.mark.parametrize("path", JSON_COMMANDS, ids=" ".join)
def test_json_output_is_one_object_in_its_schema(path, files):
    """Generated from the parser: every command with --json, run with valid arguments, prints one JSON object
    on stdout (the lines for people go to stderr) that validates against its schema in aib_deploy/data."""
    if path == ("export", "engine"):
        pytest.skip("builds a TensorRT engine: needs TensorRT and an NVIDIA GPU (not present on this project's machines)")
    if path == ("perf",):
        pytest.skip("measures a running server: tests/perf and tests/export/test_triton_server.py check its JSON")
    argv = [*path]
    chosen = VALID[path]
    parser = parser_of(path)
    argv += [str(files[chosen[a.dest]]) for a in parser._actions if not a.option_strings and a.dest in chosen]
    for flag, item in chosen.items():
        if flag.startswith("-"):
            argv.append(f"{flag}={files['folder'] / 'json' / item.removeprefix('out/') if item.startswith('out/') else item}")
    result = run_with_deadline([*argv, "--json"], seconds=300)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    validated(document, "info" if path == ("info",) else "command")
    if path != ("info",):
        assert document["command"] == " ".join(path)

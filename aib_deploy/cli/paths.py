"""argparse types for the paths commands read and write, checked while the command line is parsed.

A missing input, a folder where a file is wanted, an output that names a folder,
a file of another format or a folder that is a file: each is one line naming the
argument, before any work, and nothing is written. Each type says what it takes,
so the CLI's bad-input tests can generate their cases from the parser: every
argument that takes a value declares one of these, or `plain_value`.
"""

from __future__ import annotations

import argparse
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import AibError, OptionError
from ..export.calibration import SYNTHETIC
from ..runtime.results_file import STDOUT

MODEL_KINDS = ("checkpoint", "float32", "fp16", "int8", "engine")
ONNX_KINDS = ("float32", "fp16", "int8")
MAX_NAME_BYTES = 255  # one file or folder name, on every common Linux file system


def plain_value(value: str) -> str:
    """argparse's type for values that are not paths (a host, a token, a gate): taken as they are, but never
    empty (an empty name or token would quietly mean the default, or nothing)."""
    if not value:
        _refuse("expected a value, got an empty string")
    return value


def _refuse(message: str) -> None:
    raise argparse.ArgumentTypeError(message)


def _checked_path(check: Callable[[str], None], value: str) -> str:
    """`value` after `check`, with what every path is refused for: empty (which would mean the current
    folder), or a name the system refuses to look up (too long, a symlink loop)."""
    if not value:
        _refuse("expected a path, got an empty string")
    try:
        check(value)
    except OSError as error:
        _refuse(f"{value[:80]}{'...' if len(value) > 80 else ''}: {error.strerror or error}")
    return value


@dataclass(frozen=True)
class InputPath:
    """A path that must exist: `what` is "file", "folder" or "file or folder". `words` are values that are
    not paths (`synthetic`); a `sources` input also takes a camera index and a glob such as 'frames/*.jpg'."""

    what: str = "file"
    words: tuple[str, ...] = ()
    sources: bool = False

    def __call__(self, value: str) -> str:
        if value in self.words or (self.sources and (value.isdigit() or glob.has_magic(value))):
            return value
        return _checked_path(self._check, value)

    def _check(self, value: str) -> None:
        path = Path(value)
        if not path.exists():
            _refuse(f"{value}: no such {self.what}")
        if not path.is_file() and not path.is_dir():  # reading a FIFO or a device would block or never end
            _refuse(f"{value}: not a regular file (a FIFO, socket or device)")
        if self.what == "file" and path.is_dir():
            _refuse(f"{value}: a folder; expected a file")
        if self.what == "folder" and not path.is_dir():
            _refuse(f"{value}: a file; expected a folder")


@dataclass(frozen=True)
class ModelPath(InputPath):
    """A model file; `accepts` lists the kinds of MODEL_KINDS the command takes (the rest get one line from
    the command, which reads the file to know its kind)."""

    accepts: tuple[str, ...] = MODEL_KINDS


@dataclass(frozen=True)
class OutputPath:
    """A path the command writes: a "file" with one of `suffixes` (none: any), a "folder" it creates, or
    "file or folder" (the command decides by its input)."""

    what: str = "file"
    suffixes: tuple[str, ...] = ()

    def __call__(self, value: str) -> str:
        return _checked_path(self._check, value)

    def _check(self, value: str) -> None:
        path = Path(value)
        parent = next((folder for folder in path.parents if folder.exists()), None)
        if parent is not None and not parent.is_dir():
            _refuse(f"{value}: {parent} is a file, not a folder")
        if self.what == "folder" and path.exists() and not path.is_dir():
            _refuse(f"{value}: a file; expected a folder (created if missing)")
        if self.what == "file":
            wanted = f"a file name ending {' or '.join(self.suffixes)}" if self.suffixes else "a file name"
            if path.is_dir() or value.endswith(("/", os.sep)):
                _refuse(f"{value}: a folder; expected {wanted}")
            if self.suffixes and path.suffix.lower() not in self.suffixes:
                _refuse(f"{value}: expected {wanted}, got {path.suffix or 'no suffix'}")
        if len(path.name.encode()) > MAX_NAME_BYTES:  # the folder may not exist yet to refuse it
            _refuse(f"{value[:80]}...: a file name of {len(path.name.encode())} bytes; at most {MAX_NAME_BYTES}")


def resolved(flag: str, value: str | Path) -> Path:
    """The absolute path `value` names, or one line naming the flag where it cannot be resolved (a symlink loop)."""
    try:
        return Path(value).resolve()
    except (OSError, RuntimeError) as error:
        raise OptionError(f"{flag} {value}: cannot be resolved ({error})") from None


def refuse_overwriting(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path]) -> None:
    """One line when a file a command writes is one it reads, or two of its outputs are one file (the second
    would silently replace the first). `outputs` and `inputs` map flags to paths; None or STDOUT is skipped."""
    read = {resolved(flag, path): (flag, path) for flag, path in inputs.items()}
    written: dict[Path, tuple[str, str | Path]] = {}
    for flag, path in outputs.items():
        if path is None or str(path) == STDOUT:
            continue
        target = resolved(flag, path)
        if target in read:
            raise OptionError(f"{flag} {path}: is an input of this command ({read[target][0]}); it would be overwritten")
        if target in written:
            other, first = written[target]
            raise OptionError(f"{other} {first} and {flag} {path}: the same file; one would overwrite the other")
        written[target] = (flag, path)


def create_folder(flag: str, value: str | Path, of_file: bool = False) -> Path:
    """The output folder `value` (with `of_file`, the folder of the file `value`) and its parents, made before
    any work, so a place the machine refuses (a read-only mount, /proc) is one line naming the flag, not an
    error after minutes of work."""
    folder = Path(value).parent if of_file else Path(value)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AibError(f"{flag} {value}: cannot create {error.filename or folder} ({error.strerror or error})") from None
    return folder


FRAMES_SOURCE = InputPath("file or folder", words=(SYNTHETIC,))  # --calibration, --frames, --input

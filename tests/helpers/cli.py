"""Running `aib` as a user does, and its one-line errors.

`run_aib` starts the real executable: for what only a process shows (its exit code end to end, what it
imports, signals, servers, what C libraries print). `call_aib` runs the same `main()` in this process and
returns the same kind of result: for commands that end in an error or finish in a moment, where starting
Python and importing torch again would cost seconds a case. An exception that escapes `main()` fails the
test, as a traceback would.
"""

import contextlib
import io
import subprocess
import sys
from pathlib import Path

from aib_deploy.cli import main

AIB = str(Path(sys.executable).with_name("aib"))


def run_aib(*args, cwd=None):
    return subprocess.run([AIB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def call_aib(*args) -> subprocess.CompletedProcess:
    """`aib ARGS` through `aib_deploy.cli.main` in this process, with its stdout, stderr and exit code."""
    argv = [str(arg) for arg in args]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: --help, --version and usage errors
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return subprocess.CompletedProcess(["aib", *argv], code, stdout.getvalue(), stderr.getvalue())


def assert_one_line_error(result, *fragments, code: int = 1):
    """One `aib: error:` line naming every fragment; exit 1, or 2 for a value the options refuse."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aib: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def assert_error_after_progress(result, *fragments):
    """Progress or status lines may come first (`aib stream: connecting ...`); the last line is the one error."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and lines and lines[-1].startswith("aib: error: "), result.stderr
    assert sum(line.startswith("aib: error: ") for line in lines) == 1
    for fragment in fragments:
        assert fragment in lines[-1]

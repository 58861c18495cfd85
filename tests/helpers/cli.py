"""Running `aib` as a user does: a real process, and its one-line errors."""

import subprocess
import sys
from pathlib import Path

AIB = str(Path(sys.executable).with_name("aib"))


def run_aib(*args, cwd=None):
    return subprocess.run([AIB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
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

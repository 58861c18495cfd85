"""Installing test-only files into a folder beside the virtual environment, outside site-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def install_into(target: Path, *requirements: str) -> None:
    """Unpack `requirements` (no dependencies) into `target`: with the environment's uv when
    scripts/bootstrap.sh put it there (seconds), with pip otherwise."""
    uv = Path(sys.executable).with_name("uv")
    if uv.is_file():
        installer = [str(uv), "pip", "install", "--quiet", "--python", sys.executable]
    else:
        installer = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--upgrade"]
    subprocess.run([*installer, "--no-deps", "--target", str(target), *requirements], check=True)

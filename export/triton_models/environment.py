"""Inserted at the top of every model.py `aib export triton` writes (where the template says
`# <exporting environment>`): Triton's Python stub embeds the system's Python, so aib-deploy and its
dependencies must be put on sys.path before anything imports them."""

import ast
import os
import re
import site
import sys
from pathlib import Path


def use_exporting_environment() -> None:
    """Put the folders of the parameter aib_deploy.python_path (`--python-path`, then the site-packages
    of the environment that wrote this repository) before the system's site-packages, those that exist.

    Runs on import: the stub imports numpy right after this file, and initialize(), which gets the
    config, comes later; so the parameter is read from config.pbtxt itself.
    """
    config = (Path(__file__).resolve().parents[1] / "config.pbtxt").read_text(encoding="utf-8")
    match = re.search(r'key: "aib_deploy\.python_path"\s*value \{\s*string_value: ("(?:[^"\\]|\\.)*")', config)
    if match is None:
        return
    system = set(site.getsitepackages())
    position = next((index for index, entry in enumerate(sys.path) if entry in system), len(sys.path))
    known = list(sys.path)
    for folder in ast.literal_eval(match[1]).split(os.pathsep):
        if os.path.isdir(folder):
            site.addsitedir(folder)  # runs its .pth files too: editable installs
    added = [entry for entry in sys.path if entry not in known]
    sys.path[:] = known[:position] + added + known[position:]


use_exporting_environment()

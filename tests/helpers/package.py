"""The modules of the installed `aib_deploy` package, with their source files.

`pkgutil.walk_packages(aib_deploy.__path__)` alone misses `aib_deploy.export` and
`aib_deploy.serving`: they live in the repository's `export/` and `serving/` and
are mapped into the package. So the packages are read from pyproject.toml, the
list that installs them, and each package's own `__path__` is walked.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path

import tomllib

PACKAGE = "aib_deploy"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# Modules that need torch (the `export` extra); every other module imports without it.
TORCH_MODULES = ("aib_deploy.models", "aib_deploy.export.onnx_export", "aib_deploy.demo.training")


def installed_packages() -> list[str]:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]


def package_folders() -> list[str]:
    """Every folder of the repository with an `__init__.py` that maps into the package, as a dotted name."""
    folders = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    found = set()
    for package, folder in folders.items():
        root = PYPROJECT.parent / folder
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            found.add(".".join((package, *relative)))
    return sorted(found)


def all_modules() -> list[str]:
    """Every module and package that pyproject.toml installs, found by walking each package's path."""
    found = set()
    for name in installed_packages():
        package = importlib.import_module(name)
        found.add(name)
        found.update(info.name for info in pkgutil.iter_modules(package.__path__, name + ".") if not info.ispkg)
    return sorted(found)


def source_file(module: str) -> Path:
    return Path(importlib.util.find_spec(module).origin)


def needs_torch(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in TORCH_MODULES)

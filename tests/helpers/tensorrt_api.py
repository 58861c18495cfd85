"""TensorRT's real Python API files for name checks, installed beside the virtual environment.

No GPU and no TensorRT builder library exist here, but two things of TensorRT
10 and 11 do install: the lean runtime (`tensorrt-lean-cu13-libs` +
`tensorrt-lean-cu13-bindings`, module `tensorrt_lean_bindings`, which imports
without a GPU) and the builder's bindings wheel (`tensorrt-cu13-bindings`,
whose `tensorrt.so` cannot be imported without libnvinfer but holds every
binding name as a string). They go into `.venv/tensorrt-api/`, one folder per
version, outside site-packages so the package's own "TensorRT is not
installed" paths stay testable.

    .venv/bin/python -m tests.helpers.tensorrt_api     # install (scripts/bootstrap.sh runs this)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.helpers.installs import install_into

VERSIONS = ("10.16.1.11", "11.4.0.106")
ROOT = Path(__file__).resolve().parents[2] / ".venv" / "tensorrt-api"
BINDINGS_SO = "tensorrt_bindings/tensorrt.so"


def lean_folder(version: str) -> Path:
    return ROOT / version / "lean"


def builder_bindings(version: str) -> Path:
    return ROOT / version / "tensorrt.so"


def installed(version: str) -> bool:
    return (lean_folder(version) / "tensorrt_lean_bindings").is_dir() and builder_bindings(version).is_file()


def install(version: str) -> None:
    install_into(lean_folder(version), f"tensorrt-lean-cu13-libs=={version}", f"tensorrt-lean-cu13-bindings=={version}")
    with tempfile.TemporaryDirectory() as unpacked:
        install_into(Path(unpacked), f"tensorrt-cu13-bindings=={version}")
        shutil.copyfile(Path(unpacked) / BINDINGS_SO, builder_bindings(version))


if __name__ == "__main__":
    for version in VERSIONS:
        if not installed(version):
            install(version)
            print(f"TensorRT {version} API files: {ROOT / version}")

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from checkpoint_files import CASES, write_case_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def case_checkpoint(tmp_path_factory):
    """Path of a conformance case saved in its family's original checkpoint layout (written once)."""
    written: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            written[name] = write_case_checkpoint(name, tmp_path_factory.mktemp("ckpt") / f"{name}.pth")
        return written[name]

    return get


def pytest_report_header(config):
    return f"conformance cases: {', '.join(CASES)}"

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


DEMO_CHECKPOINT = Path(__file__).resolve().parent.parent / "aib_deploy" / "data" / "wrn_aib_qt_glyphs.pth"


@pytest.fixture(scope="session")
def demo_onnx(tmp_path_factory):
    """The committed demo model, exported once per test session."""
    from aib_deploy.cards import card_from_checkpoint
    from aib_deploy.checkpoint import load_model
    from aib_deploy.export.onnx_export import export_onnx

    loaded = load_model(DEMO_CHECKPOINT)
    path = tmp_path_factory.mktemp("demo") / "demo.onnx"
    export_onnx(loaded, card_from_checkpoint(loaded, dataset="glyphs"), path, opset=18, max_batch=32)
    return path

import pytest

from tests.helpers.checkpoint_files import CASES, write_case_checkpoint


@pytest.fixture(scope="session")
def case_checkpoint(tmp_path_factory):
    """Path of a conformance case saved in its family's original checkpoint layout (written once)."""
    written: dict = {}

    def get(name: str):
        if name not in written:
            written[name] = write_case_checkpoint(name, tmp_path_factory.mktemp("ckpt") / f"{name}.pth")
        return written[name]

    return get


def pytest_report_header(config):
    return f"conformance cases: {', '.join(CASES)}"


@pytest.fixture(scope="session")
def demo_onnx(tmp_path_factory):
    """The committed demo model, exported once per test session."""
    from aib_deploy.demo.run import bundled_checkpoint
    from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint

    path = tmp_path_factory.mktemp("demo") / "demo.onnx"
    export_checkpoint(bundled_checkpoint(), path, OnnxExportOptions())  # its args.dataset gives the glyph labels
    return path

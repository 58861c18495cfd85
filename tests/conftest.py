import os

import pytest

from tests.helpers.checkpoint_files import CASES, write_case_checkpoint


def pytest_configure(config):
    """Under pytest-xdist each worker computes on one thread: two workers on two cores. Left to their defaults,
    ONNX Runtime and PyTorch in every worker each start a pool as wide as the machine, and ONNX Runtime's
    threads spin while they wait, so the workers' pools fight for the same cores."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    import onnxruntime
    import torch

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the servers and commands the tests start
    torch.set_num_threads(1)
    session_init = onnxruntime.InferenceSession.__init__

    def one_thread(self, path_or_bytes, sess_options=None, *args, **kwargs):
        if sess_options is None:
            sess_options = onnxruntime.SessionOptions()
        if sess_options.intra_op_num_threads == 0:  # 0: the caller left it to ONNX Runtime
            sess_options.intra_op_num_threads = 1
        sess_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session_init(self, path_or_bytes, sess_options, *args, **kwargs)

    onnxruntime.InferenceSession.__init__ = one_thread


@pytest.fixture(scope="session")
def case_checkpoint(tmp_path_factory):
    """Path of a conformance case saved in its family's original checkpoint layout (written once)."""
    written: dict = {}

    def get(name: str):
        if name not in written:
            written[name] = write_case_checkpoint(name, tmp_path_factory.mktemp("ckpt") / f"{name}.pth")
        return written[name]

    return get


@pytest.fixture(scope="session")
def demo_int8(demo_onnx, tmp_path_factory):
    """The demo model in INT8 (`--float auto`, no gate), once per session, for tests that need some INT8 file;
    tests of `aib export int8` itself write their own."""
    from aib_deploy.export.int8 import Int8Options, export_int8
    from aib_deploy.runtime.compare import Gate

    path = tmp_path_factory.mktemp("int8") / "demo.int8.onnx"
    export_int8(demo_onnx, path, Int8Options(count=32, held_out=32, fail_under=Gate(0, 0), progress=False))
    return path


@pytest.fixture(scope="session")
def demo_fp16(demo_onnx, tmp_path_factory):
    """The demo model in fp16, once per session, for tests that need some fp16 file."""
    from aib_deploy.export.fp16 import Fp16Options, export_fp16

    path = tmp_path_factory.mktemp("fp16") / "demo.fp16.onnx"
    export_fp16(demo_onnx, path, Fp16Options(held_out=16, progress=False))
    return path


@pytest.fixture(scope="session")
def case_onnx(case_checkpoint, tmp_path_factory):
    """A conformance case exported to ONNX (max batch 16), once per session: `case_onnx(name)` is its
    ExportedModel (loaded model, card, path). Exporting the CUB models takes most of a minute."""
    from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint

    exported: dict = {}

    def get(name: str):
        if name not in exported:
            path = tmp_path_factory.mktemp("onnx") / f"{name}.onnx"
            exported[name] = export_checkpoint(case_checkpoint(name), path, OnnxExportOptions(max_batch=16))
        return exported[name]

    return get


# Test files that share a conformance case's weights and exported model (the CUB ones take most of a minute):
# under pytest-xdist a case's tests in them run on one worker, so each is built once, and the cases spread.
CONFORMANCE_FILES = (
    "tests/export/test_onnx_conformance.py",
    "tests/export/test_fp16.py",
    "tests/models/test_conformance_pytorch.py",
)


def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` (scripts/test.sh), a file's tests stay on one worker, so its module fixtures
    (servers, exports) are built once; in the conformance files, a case's tests stay together."""
    for item in items:
        path = item.nodeid.split("::")[0]
        group = path
        if path in CONFORMANCE_FILES:
            params = item.callspec.params if hasattr(item, "callspec") else {}
            case = next((value for value in params.values() if value in CASES), None)
            group = f"conformance-{case}" if case else "conformance"
        item.add_marker(pytest.mark.xdist_group(group))


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

import os
from pathlib import Path

import pytest

from tests.helpers.checkpoint_files import CASES, case_group, write_case_checkpoint


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


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A file every pytest-xdist worker of this run shares: the first to ask builds it (`build(path)`) while
    the others wait on its lock. Under plain pytest, a file of this session's own."""
    from filelock import FileLock

    if "PYTEST_XDIST_WORKER" not in os.environ:
        path = tmp_path_factory.mktemp("built") / name
        build(path)
        return path
    path = tmp_path_factory.getbasetemp().parent / "built" / name  # the run's folder, above each worker's
    partial = path.parent / "partial" / name  # moved into place whole: a failed build leaves no file to share
    partial.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        if not path.is_file():
            build(partial)
            partial.replace(path)
    return path


@pytest.fixture(scope="session")
def demo_onnx(tmp_path_factory):
    """The committed demo model, exported once per test run (its args.dataset gives the glyph labels)."""
    from aib_deploy.demo.run import bundled_checkpoint
    from aib_deploy.export.onnx_export import export_checkpoint

    return built_once(tmp_path_factory, "demo.onnx", lambda path: export_checkpoint(bundled_checkpoint(), path))


@pytest.fixture(scope="session")
def demo_int8(demo_onnx, tmp_path_factory):
    """The demo model in INT8 (`--float auto`, no gate), once per run, for tests that need some INT8 file;
    tests of `aib export int8` itself write their own."""
    from aib_deploy.export.int8 import Int8Options, export_int8
    from aib_deploy.runtime.compare import Gate

    options = Int8Options(count=32, held_out=32, fail_under=Gate(0, 0), progress=False)
    return built_once(tmp_path_factory, "demo.int8.onnx", lambda path: export_int8(demo_onnx, path, options))


@pytest.fixture(scope="session")
def demo_fp16(demo_onnx, tmp_path_factory):
    """The demo model in fp16, once per run, for tests that need some fp16 file."""
    from aib_deploy.export.fp16 import Fp16Options, export_fp16

    options = Fp16Options(held_out=16, progress=False)
    return built_once(tmp_path_factory, "demo.fp16.onnx", lambda path: export_fp16(demo_onnx, path, options))


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


def worker_group(item) -> str:
    """The worker group of a test without a mark of its own: its conformance case's, or its file's."""
    path = item.nodeid.split("::")[0]
    if path not in CONFORMANCE_FILES:
        return path
    params = item.callspec.params if hasattr(item, "callspec") else {}
    case = next((value for value in params.values() if value in CASES), None)
    return case_group(case) if case else "conformance"


# Files whose real servers and clients take 6-35 s of one worker (measured 2026-12-01): started early, so
# that the run ends on short files and neither worker waits long for the other.
LONG_FILES = (
    "tests/serving/test_hostile_clients.py",
    "tests/serving/test_stream_client.py",
    "tests/perf/test_perf.py",
    "tests/serving/test_request_bounds.py",
    "tests/export/test_triton_server.py",
    "tests/serving/test_server.py",
    "tests/serving/test_one_client_both_servers.py",
    "tests/serving/test_fuzz.py",
)


def first_the_longest_groups(item) -> int:
    """Groups go to the workers in the order of their first test (scripts/test.sh: --no-loadscope-reorder):
    the conformance cases first, largest first, so that the longest group does not start last; then the
    long files."""
    group = item.get_closest_marker("xdist_group").args[0]
    case = group.removeprefix(case_group(""))
    if case in CASES:
        return -CASES[case]["num_params"]
    return -1 if group in LONG_FILES else 0


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` (scripts/test.sh), a file's tests stay on one worker, so its module fixtures
    (servers, exports) are built once; in the conformance files, a case's tests stay together. A test's own
    `xdist_group` mark is kept."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(worker_group(item)))
    items.sort(key=first_the_longest_groups)  # stable: each group keeps its tests' order


def pytest_report_header(config):
    return f"conformance cases: {', '.join(CASES)}"

"""A real Triton Inference Server for tests and benchmarks: the `tritonserver` that the nvidia-pytriton
wheel bundles (Triton 2.51, with its Python backend), started on loopback.

nvidia-pytriton pins numpy<2, so it is not installed into the virtual environment: `--no-deps
--target .venv/pytriton/` unpacks it beside it, and the Python backend's stub for this Python goes
where Triton looks for it (`backends/python/`). That stub embeds the system's libpython and its
pybind11 predates NumPy 2 (NumPy 2 arrays come through it wrong), so NumPy 1.26 goes into
`.venv/pytriton/stub-numpy/`, as a Triton container of that release has it. The stub's interpreter
ignores PYTHONPATH: repositories for it are written with PYTHON_BACKEND_FLAGS (`--python-path
.venv/pytriton/stub-numpy`), and `model.py` puts that folder first, then the exporting environment
(aib-deploy, ONNX Runtime, OpenCV).

    .venv/bin/python -m tests.helpers.tritonserver     # install (scripts/bootstrap.sh runs this)

    with TritonServer(repository) as server:          # ready on entry, stopped by PID on exit
        client = tritonclient.grpc.InferenceServerClient(server.grpc_url)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.installs import install_into

PYTRITON_VERSION = "0.7.0"
STUB_NUMPY_VERSION = "1.26.4"
ROOT = Path(__file__).resolve().parents[2] / ".venv" / "pytriton"
SERVER = ROOT / "pytriton" / "tritonserver"
BINARY = SERVER / "bin" / "tritonserver"
BACKENDS = SERVER / "backends"
STUB = "triton_python_backend_stub"
STUB_SOURCE = SERVER / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}" / STUB
LIBRARIES = ROOT / "nvidia_pytriton.libs"
STUB_NUMPY = ROOT / "stub-numpy"
INSTALL_COMMAND = ".venv/bin/python -m tests.helpers.tritonserver"
# `aib export triton` flags for Python-backend models that this server runs.
PYTHON_BACKEND_FLAGS = ("--python-path", str(STUB_NUMPY))


def installed() -> bool:
    return BINARY.is_file() and (BACKENDS / "python" / STUB).is_file() and (STUB_NUMPY / "numpy").is_dir()


def install() -> None:
    """Unpack the wheel and NumPy 1.26 beside the virtual environment and put the stub in place (idempotent)."""
    if not BINARY.is_file():
        install_into(ROOT, f"nvidia-pytriton=={PYTRITON_VERSION}")
    if not (STUB_NUMPY / "numpy").is_dir():
        install_into(STUB_NUMPY, f"numpy=={STUB_NUMPY_VERSION}")
    shutil.copy2(STUB_SOURCE, BACKENDS / "python" / STUB)


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(LIBRARIES), os.environ.get("LD_LIBRARY_PATH")]))
    return environment


def triton_unavailable() -> str | None:
    """Why the real Triton cannot run here, in one line; None when it can."""
    if not installed():
        return f"the tritonserver of nvidia-pytriton {PYTRITON_VERSION} is not installed (run `{INSTALL_COMMAND}`)"
    try:
        probe = subprocess.run(
            [str(BINARY), "--help"], check=False, capture_output=True, text=True, env=_environment(), timeout=60
        )
    except OSError as error:
        return f"{BINARY} cannot run here: {error}"
    if "--model-repository" not in probe.stdout + probe.stderr:
        return f"{BINARY} cannot run here: {(probe.stderr.strip().splitlines() or ['exit ' + str(probe.returncode)])[-1]}"
    stub = BACKENDS / "python" / STUB
    libraries = subprocess.run(["ldd", str(stub)], check=False, capture_output=True, text=True, env=_environment())
    missing = [line.split()[0] for line in libraries.stdout.splitlines() if "not found" in line]
    if missing:
        return f"the Python backend's stub cannot run here: {', '.join(missing)} not found (the system's libpython)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TritonServer:
    """`tritonserver --model-repository REPOSITORY` on 127.0.0.1 with free ports; `extra` flags follow ours.

    `grpc_url` and `http_url` are host:port, as tritonclient takes them; `pid` is the server's
    process (its own process group, with the Python backend's stubs). `start()` returns once the
    server is ready, or raises with the end of its log; `stop()` sends SIGTERM, then SIGKILL.
    """

    def __init__(self, repository: Path, *extra: str, ready_timeout: float = 180) -> None:
        self.repository = Path(repository)
        self.extra = extra
        self.ready_timeout = ready_timeout
        self.grpc_port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.grpc_url = f"127.0.0.1:{self.grpc_port}"
        self.http_url = f"127.0.0.1:{self.http_port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.log = tempfile.NamedTemporaryFile(mode="w+", prefix="tritonserver-", suffix=".log")
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("tritonserver: not started")
        return self.process.pid

    def command(self) -> list[str]:
        return [
            str(BINARY),
            "--model-repository",
            str(self.repository),
            "--backend-directory",
            str(BACKENDS),
            "--grpc-address",
            "127.0.0.1",
            "--grpc-port",
            str(self.grpc_port),
            "--http-address",
            "127.0.0.1",
            "--http-port",
            str(self.http_port),
            "--metrics-address",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
            "--exit-on-error",
            "true",
            "--exit-timeout-secs",
            "5",
            *self.extra,
        ]

    def start(self) -> TritonServer:
        self.process = subprocess.Popen(
            self.command(), stdout=self.log, stderr=subprocess.STDOUT, env=_environment(), start_new_session=True
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.is_ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tritonserver not ready after {self.ready_timeout:.0f} s:\n{self.log_tail()}")

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, grace: float = 20) -> int:
        """SIGTERM to the server, SIGKILL to its process group after `grace` seconds; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:  # stubs the server left behind, in the group it leads
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.returncode

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()  # the log stays readable until the object goes


if __name__ == "__main__":
    if not installed():
        install()
        print(f"tritonserver (nvidia-pytriton {PYTRITON_VERSION}) and the stub's NumPy {STUB_NUMPY_VERSION}: {ROOT}")

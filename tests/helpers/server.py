"""`aib serve` in its own process on a free loopback port, with a client channel to it, and the
small message builders the serving tests share."""

import signal
import subprocess
import tempfile
from pathlib import Path

import cv2
import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import attention_pb2_grpc as pb_grpc

from .cli import AIB

MAX_PIXELS = 1_000_000


class ServerProcess:
    """Flags given in `extra` come after the defaults here, so they win (argparse keeps the last)."""

    def __init__(self, model: Path, *extra: str) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads could fill and block the server
        self.process = subprocess.Popen(
            [AIB, "serve", str(model), "--port", "0", "--max-pixels", str(MAX_PIXELS), *extra],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line}{self.read_stderr()}")
        self.banner = line
        self.address = line.split("listening on ")[1].split()[0]
        self.port = int(self.address.rsplit(":", 1)[1])
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.AttentionServiceStub(self.channel)

    def read_stderr(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc")

    def stop(self, signalled: bool = False) -> tuple[int, str]:
        """SIGTERM (unless the test already sent it) and wait for the exit."""
        self.channel.close()
        if not signalled and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out


def encoded(image: np.ndarray, suffix: str = ".jpg") -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


def raw(image: np.ndarray) -> pb.RawImage:
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    return pb.RawImage(data=image.tobytes(), height=height, width=width, channels=channels)


def is_serving(channel) -> bool:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and its key, made with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key

"""`aib serve` in its own process on a free loopback port, with a client channel to it."""
import signal
import subprocess
from pathlib import Path

import grpc

from aib_deploy.serving.generated import attention_pb2_grpc as pb_grpc

from .cli import AIB

MAX_PIXELS = 1_000_000


class ServerProcess:
    def __init__(self, model: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [AIB, "serve", str(model), "--port", "0", "--max-pixels", str(MAX_PIXELS), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line}{self.process.stderr.read()}")
        self.banner = line
        self.address = line.split("listening on ")[1].split()[0]
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.AttentionServiceStub(self.channel)

    def stop(self, signalled: bool = False) -> tuple[int, str]:
        """SIGTERM (unless the test already sent it) and wait for the exit."""
        self.channel.close()
        if not signalled and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out

"""`aib stream`: send a video or camera to a server, get predictions and attention back.

Frames go out on one bidirectional stream with at most `window` in flight; a
server restart is survived by reconnecting (waiting for it to be ready) and
going on with the next frame of the source; frames that were in flight when
the connection broke are recorded as errors, never silently dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from ..contract import MAX_MESSAGE_BYTES, STREAM_WINDOW
from ..errors import AibError, OptionError
from ..protocol.aib_v1 import frame_message
from ..protocol.generated import attention_pb2 as pb
from ..protocol.generated import attention_pb2_grpc as pb_grpc
from .options import CONNECT_TIMEOUT_S, MAX_TIMEOUT_S


@dataclass
class StreamStats:
    sent: int = 0
    answered: int = 0
    errors: int = 0
    reconnects: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def open_channel(address: str, tls_ca: str | None = None) -> grpc.Channel:
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    if tls_ca:
        certificate = Path(tls_ca).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in certificate:  # gRPC would only log it, and wait out the timeout
            raise AibError(f"--tls-ca {tls_ca}: not a PEM certificate (no BEGIN CERTIFICATE block)")
        credentials = grpc.ssl_channel_credentials(certificate)
        return grpc.secure_channel(address, credentials, options=options)
    return grpc.insecure_channel(address, options=options)


def wait_ready(channel: grpc.Channel, address: str, timeout_s: float, tls_ca: str | None) -> None:
    """Return once the server at `address` answers; one line when it does not within `timeout_s`."""
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        tls = "with TLS" if tls_ca else "without TLS (is it a TLS server? then pass --tls-ca)"
        raise AibError(f"server {address}: not reachable within {timeout_s:g} s (--connect-timeout), tried {tls}") from None


def refusal(address: str, error: grpc.RpcError, token_given: bool) -> AibError:
    """A call the server refused, in one line; a missing token told apart from a wrong one."""
    if error.code() == grpc.StatusCode.UNAUTHENTICATED and not token_given:
        return AibError(
            f"server {address}: asks for a token and none was given (UNAUTHENTICATED); pass --token-file, $AIB_TOKEN or --token"
        )
    if error.code() == grpc.StatusCode.UNAUTHENTICATED:
        return AibError(f"server {address}: refused the token (UNAUTHENTICATED)")
    return AibError(f"server {address}: {error.code().name}: {error.details()}")


class FrameStreamer:
    """Streams (index, image) pairs and calls `on_result(image, result, latency_ms)` in order."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        tls_ca: str | None = None,
        window: int = STREAM_WINDOW,
        raw: bool = False,
        stream_id: str = "aib-stream",
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        on_event: Callable[[str], None] = lambda text: None,
    ) -> None:
        if ":" not in address.rsplit("]", 1)[-1]:
            raise AibError(f"server {address}: expected HOST:PORT, e.g. 127.0.0.1:50051")
        if not 0 < connect_timeout_s <= MAX_TIMEOUT_S:
            raise OptionError(
                f"--connect-timeout: expected seconds above 0, at most {MAX_TIMEOUT_S:g}, got {connect_timeout_s:g}"
            )
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self.on_event = on_event
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.tls_ca = tls_ca
        self.window = window
        self.raw = raw
        self.stream_id = stream_id
        self.stats = StreamStats()
        self._carry: tuple[int, np.ndarray] | None = None
        self._source_error: AibError | None = None  # raised once the frames sent before it are answered

    def model_info(self) -> pb.ModelInfo:
        """The served model's info (its card, labels, anchors), once the server answers."""
        channel = open_channel(self.address, self.tls_ca)
        try:
            self._wait_ready(channel)
            try:
                return pb_grpc.AttentionServiceStub(channel).GetModelInfo(
                    pb.GetModelInfoRequest(), metadata=self.metadata, timeout=self.connect_timeout_s
                )
            except grpc.RpcError as error:
                raise self._refusal(error) from None
        finally:
            channel.close()

    def run(self, source: Iterator[tuple[int, np.ndarray]], on_result) -> StreamStats:
        channel = open_channel(self.address, self.tls_ca)
        stub = pb_grpc.AttentionServiceStub(channel)
        try:
            self._wait_ready(channel)
            exhausted = False
            while not exhausted:
                exhausted = self._one_call(stub, source, on_result)
                if not exhausted:
                    self.stats.reconnects += 1
                    self.on_event(f"connection to {self.address} lost; waiting up to {self.connect_timeout_s:g} s for it")
                    try:
                        self._wait_ready(channel)
                    except AibError:
                        raise AibError(
                            f"server {self.address}: the connection was lost after {self.stats.sent} frames and did not "
                            f"come back within {self.connect_timeout_s:g} s (--connect-timeout)"
                        ) from None
                    self.on_event(f"reconnected to {self.address}; going on with the next frame")
        finally:
            channel.close()
        if self._source_error is not None:
            raise self._source_error
        return self.stats

    def _wait_ready(self, channel: grpc.Channel) -> None:
        wait_ready(channel, self.address, self.connect_timeout_s, self.tls_ca)

    def _refusal(self, error: grpc.RpcError) -> AibError:
        return refusal(self.address, error, token_given=bool(self.metadata))

    def _one_call(self, stub, source, on_result) -> bool:
        """One StreamFrames call; True when the source ran out, False when the connection broke."""
        slots = threading.Semaphore(self.window)
        in_flight: dict[int, tuple[np.ndarray, float]] = {}
        lock = threading.Lock()
        finished, broken, generator_done = threading.Event(), threading.Event(), threading.Event()

        def requests():
            try:
                while True:
                    if self._carry is not None:
                        (index, image), self._carry = self._carry, None
                    else:
                        try:
                            index, image = next(source)
                        except StopIteration:
                            finished.set()
                            return
                        except AibError as error:  # the source broke: end the stream cleanly, say why after
                            self._source_error = error
                            finished.set()
                            return
                    while not slots.acquire(timeout=0.1):
                        if broken.is_set():
                            self._carry = (index, image)  # the next call sends it first
                            return
                    with lock:
                        in_flight[index] = (image, time.perf_counter())
                    self.stats.sent += 1
                    yield frame_message(self.stream_id, index, image, self.raw)
            finally:
                generator_done.set()

        call = stub.StreamFrames(requests(), metadata=self.metadata)
        try:
            for result in call:
                with lock:
                    image, sent_at = in_flight.pop(result.frame_index)
                slots.release()
                latency = (time.perf_counter() - sent_at) * 1e3
                self.stats.answered += 1
                self.stats.errors += bool(result.error)
                self.stats.latencies_ms.append(latency)
                on_result(image, result, latency)
        except grpc.RpcError as error:
            broken.set()
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise self._refusal(error) from None
            generator_done.wait(timeout=1.0)
            with lock:
                lost = sorted(in_flight)
                in_flight.clear()
            for index in lost:
                self.stats.errors += 1
                on_result(
                    None,
                    pb.FrameResult(stream_id=self.stream_id, frame_index=index, error="connection lost before the answer"),
                    0.0,
                )
            return False
        return finished.is_set()

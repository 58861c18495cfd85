"""The server's settings, defined once: `aib serve`'s flags take their defaults from here, and
`validate` turns every impossible value into one line naming the flag."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..contract import BATCH_DELAY_MS, MAX_MESSAGE_BYTES, MAX_PIXELS, STREAM_WINDOW
from ..errors import OptionError
from ..protocol.wire_bounds import StructureLimits

DEFAULT_PORT = 50051
LOOPBACK = "127.0.0.1"


def host_port(host: str, port: int) -> str:
    """HOST:PORT as gRPC and clients read it: a bare IPv6 address goes in brackets ([::1]:50051)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


MICRO_BATCH = 8  # the micro-batch when --max-batch is not given
CONNECT_TIMEOUT_S = 30.0  # clients: how long to wait for the server, at the start and after a lost connection
MAX_PORT = 65535
MAX_DELAY_MS = 10_000.0  # a batch that waits longer than this for company is a misconfiguration
MAX_TIMEOUT_S = 86_400.0  # idle and write timeouts: a day at most
MAX_HEALTH_WATCHES = 256  # open gRPC health Watch streams; probes poll with Check
MAX_INFLIGHT_BYTES = 1 << 40  # 1 TiB: more than any machine holds is a typo
DECODE_MEMORY_BYTES = 64 << 20  # pictures being decoded at once: one at the pixel limit, or ten 1080p frames


@dataclass
class ServerOptions:
    """`max_batch` is the micro-batch: at most the model's largest batch (None: MICRO_BATCH, or the model's
    largest batch if that is smaller). `max_inflight_bytes` bounds the
    frames held across all streams (payload plus decoded picture); 256 MiB fits a 4 GB edge device."""

    host: str = LOOPBACK
    port: int = DEFAULT_PORT
    max_batch: int | None = None
    max_delay_ms: float = BATCH_DELAY_MS
    max_streams: int = 64
    max_pixels: int = MAX_PIXELS
    max_inflight_bytes: int = 256 << 20
    idle_timeout_s: float = 30.0
    write_timeout_s: float = 10.0  # a stream whose next answer is not read for this long is ended
    decode_threads: int = min(4, os.cpu_count() or 1)
    decode_memory_bytes: int = DECODE_MEMORY_BYTES  # pictures the decode threads hold at once, decoded
    instances: int = 1  # inference sessions sharing the batch queue, as Triton's instance groups
    max_message_bytes: int = MAX_MESSAGE_BYTES
    # Structure of one request, checked on its bytes before parsing: entries of any one repeated field
    # (raised to the model's largest batch where that is more), and fields in all.
    max_repeated: int = StructureLimits.repeated
    max_fields: int = StructureLimits.fields
    stream_window: int = STREAM_WINDOW
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_s: float = 10.0
    metrics_port: int | None = None  # None: no /metrics endpoint; 0 picks a free port

    def structure_limits(self, max_batch: int) -> StructureLimits:
        """The bounds every request's bytes are scanned against; a batch of BYTES frames always fits."""
        return StructureLimits(repeated=max(self.max_repeated, max_batch), fields=self.max_fields)

    def validate(self) -> None:
        for flag, port in (("--port", self.port), ("--metrics-port", self.metrics_port)):
            if port is not None and not 0 <= port <= MAX_PORT:
                raise OptionError(f"{flag}: expected a port from 0 (any free one) to {MAX_PORT}, got {port}")
        if self.metrics_port and self.metrics_port == self.port:
            raise OptionError(f"--metrics-port {self.metrics_port}: the same port as --port; give another")
        for flag, value in (
            ("--max-batch", 1 if self.max_batch is None else self.max_batch),
            ("--max-streams", self.max_streams),
            ("--max-pixels", self.max_pixels),
            ("--decode-threads", self.decode_threads),
            ("--instances", self.instances),
            ("--max-repeated", self.max_repeated),
            ("--max-fields", self.max_fields),
        ):
            if value < 1:
                raise OptionError(f"{flag}: expected a positive number, got {value}")
        if not 0 <= self.max_delay_ms <= MAX_DELAY_MS:  # false for nan too
            raise OptionError(f"--max-delay-ms: expected 0 to {MAX_DELAY_MS:g}, got {self.max_delay_ms:g}")
        for flag, seconds in (("--idle-timeout-s", self.idle_timeout_s), ("--write-timeout-s", self.write_timeout_s)):
            if not 0 < seconds <= MAX_TIMEOUT_S:  # false for nan too
                raise OptionError(f"{flag}: expected seconds above 0, at most {MAX_TIMEOUT_S:g}, got {seconds:g}")
        if self.max_inflight_bytes > MAX_INFLIGHT_BYTES:
            raise OptionError(
                f"--max-inflight-mb: expected at most {MAX_INFLIGHT_BYTES >> 20} MB, got {self.max_inflight_bytes / (1 << 20):g}"
            )
        if not 1 << 20 <= self.decode_memory_bytes <= MAX_INFLIGHT_BYTES:
            raise OptionError(
                f"--decode-memory-mb: expected 1 to {MAX_INFLIGHT_BYTES >> 20} MB, got {self.decode_memory_bytes / (1 << 20):g}"
            )
        if self.max_inflight_bytes < self.max_message_bytes:
            raise OptionError(
                f"--max-inflight-mb: expected at least one message ({self.max_message_bytes >> 20} MB), "
                f"got {self.max_inflight_bytes / (1 << 20):g}"
            )
        if self.token is not None and not self.token.strip():
            raise OptionError("--token: empty; an empty token would turn authentication off (unset it to serve without one)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise OptionError("--tls-cert and --tls-key go together")

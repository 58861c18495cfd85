"""The server's settings, defined once: `aib serve`'s flags take their defaults from here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..contract import BATCH_DELAY_MS, MAX_MESSAGE_BYTES, STREAM_WINDOW

DEFAULT_PORT = 50051
LOOPBACK = "127.0.0.1"


@dataclass
class ServerOptions:
    """`max_batch` is the micro-batch: at most the model's largest batch."""

    host: str = LOOPBACK
    port: int = DEFAULT_PORT
    max_batch: int = 8
    max_delay_ms: float = BATCH_DELAY_MS
    max_streams: int = 64
    max_pixels: int = 4096 * 4096
    max_message_bytes: int = MAX_MESSAGE_BYTES
    stream_window: int = STREAM_WINDOW
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_s: float = 10.0
    metrics_port: int | None = None  # None: no /metrics endpoint; 0 picks a free port

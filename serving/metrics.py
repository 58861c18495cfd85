"""Prometheus metrics of the server, exposed on their own port.

Each server gets its own registry, so several servers in one process (tests,
the demo) never collide.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.frames = Counter("aib_frames", "Frames answered, by outcome", ["outcome"], registry=self.registry)
        self.batch_size = Histogram("aib_batch_size", "Frames per micro-batch", buckets=BATCH_BUCKETS,
                                    registry=self.registry)  # fmt: skip
        self.queue_seconds = Histogram("aib_queue_seconds", "Time a frame waited for its batch",
                                       buckets=LATENCY_BUCKETS_S, registry=self.registry)  # fmt: skip
        self.compute_seconds = Histogram("aib_compute_seconds", "Time to run one micro-batch",
                                         buckets=LATENCY_BUCKETS_S, registry=self.registry)  # fmt: skip

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP endpoint; returns the port it listens on."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server.server_port

    def frame(self, ok: bool) -> None:
        self.frames.labels(outcome="ok" if ok else "error").inc()

"""Prometheus metrics of the server, exposed on their own port.

Each server gets its own registry, so several servers in one process (tests,
the demo) never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..errors import AibError

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.frames = Counter("aib_frames", "Frames answered, by outcome", ["outcome"], registry=self.registry)
        self.batch_size = Histogram("aib_batch_size", "Frames per micro-batch", buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_seconds = Histogram(
            "aib_queue_seconds", "Time a frame waited for its batch", buckets=LATENCY_BUCKETS_S, registry=self.registry
        )
        self.compute_seconds = Histogram(
            "aib_compute_seconds", "Time to run one micro-batch", buckets=LATENCY_BUCKETS_S, registry=self.registry
        )
        self.unread_streams = Counter(
            "aib_unread_streams", "Streams ended because their answers were not read (--write-timeout-s)", registry=self.registry
        )
        self._http = None
        self._outcomes = {True: self.frames.labels(outcome="ok"), False: self.frames.labels(outcome="error")}

    def watch_limits(self, budget, slots) -> None:
        """Gauges read from the server's byte budget and call slots at each scrape."""
        for name, text, read in (
            ("aib_inflight_bytes", "Bytes of frames in flight across all streams", lambda: budget.in_flight),
            ("aib_inflight_budget_bytes", "The most bytes of frames in flight (--max-inflight-mb)", lambda: budget.limit),
            ("aib_model_calls", "Streams and unary predictions running", lambda: slots.active),
            ("aib_model_call_limit", "The most model calls at once (--max-streams)", lambda: slots.limit),
        ):
            Gauge(name, text, registry=self.registry).set_function(read)

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP endpoint (plain HTTP, no auth); returns the port it listens on."""
        try:
            self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            raise AibError(f"--metrics-port {port}: cannot listen on {host}:{port} ({error.strerror})") from None
        return self._http.server_port

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def frame(self, ok: bool) -> None:
        self._outcomes[ok].inc()

    def unread_stream(self) -> None:
        self.unread_streams.inc()

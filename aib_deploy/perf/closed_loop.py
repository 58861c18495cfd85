"""Closed-loop measurement, as perf_analyzer's concurrency mode: C workers each send a request, wait for
its answer, and send the next. Measurement windows repeat until the last STABLE_WINDOWS agree on
throughput and p95 latency within the stability share, or until `max_trials` windows; the figures are
those of the last STABLE_WINDOWS windows together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import AibError, OptionError
from ..progress import Progress

PROTOCOLS = ("kserve", "aib")
INPUTS = ("images", "frames")  # normalized float32 tensors, or one encoded PNG per request


@dataclass(frozen=True)
class ServerTimes:
    """The server's own counters for the model (KServe ModelStatistics): requests, queue and compute."""

    requests: int = 0
    queue_ns: int = 0
    compute_ns: int = 0

    def __sub__(self, other: ServerTimes) -> ServerTimes:
        return ServerTimes(self.requests - other.requests, self.queue_ns - other.queue_ns, self.compute_ns - other.compute_ns)


STABLE_WINDOWS = 3  # perf_analyzer's default: three windows in a row within the stability share
PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class PerfOptions:
    """What `aib perf` measures; `measure` takes the same object."""

    concurrency: tuple[int, ...] = (1,)
    window_ms: int = 5000
    stability: float = 0.10
    max_trials: int = 10

    def validate(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise OptionError(f"--concurrency-range: expected levels of at least 1, got {self.concurrency}")
        if self.max_trials < STABLE_WINDOWS:
            raise AibError(
                f"--max-trials: expected at least {STABLE_WINDOWS} (the windows that must agree), got {self.max_trials}"
            )
        if not 0 < self.stability < 1:
            raise OptionError(f"--stability-percentage: expected above 0 and below 100, got {self.stability * 100:g}")


class Workers:
    """C threads calling `call` back to back until stopped; each answer's end time and latency recorded."""

    def __init__(self, call: Callable[[], None], count: int) -> None:
        self.call = call
        self.answers: list[tuple[float, float]] = []  # (end, latency in s); list.append is atomic
        self.errors: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(count)]

    def _loop(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                self.call()
            except Exception as error:  # noqa: BLE001 - any failed request is counted, and the run goes on
                self.errors.append((time.perf_counter(), str(error).splitlines()[0][:200]))
                continue
            ended = time.perf_counter()
            self.answers.append((ended, ended - started))

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


@dataclass(frozen=True)
class Window:
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def p95(self) -> float:
        return float(np.percentile(self.latencies, 95)) if self.latencies else float("inf")


def within(values: list[float], share: float) -> bool:
    return min(values) > 0 and max(values) <= min(values) * (1 + share)


def stable(windows: list[Window], share: float) -> bool:
    last = windows[-STABLE_WINDOWS:]
    if len(last) < STABLE_WINDOWS or any(not window.latencies for window in last):
        return False
    return within([w.throughput for w in last], share) and within([w.p95 for w in last], share)


def measure_level(call: Callable[[], None], server_times: Callable[[], ServerTimes], level: int, options: PerfOptions) -> dict:
    """One concurrency level: windows until stable (or max_trials), then the figures of the last windows."""
    windows: list[Window] = []
    with Workers(call, level) as workers:
        time.sleep(min(0.5, options.window_ms / 1e3))  # warm-up: connections, the server's first batches
        marks = [(time.perf_counter(), server_times())]
        while len(windows) < options.max_trials and not stable(windows, options.stability):
            time.sleep(options.window_ms / 1e3)
            marks.append((time.perf_counter(), server_times()))
            (start, _), (end, _) = marks[-2], marks[-1]
            latencies = [latency for ended, latency in list(workers.answers) if start <= ended < end]
            errors = sum(1 for ended, _ in list(workers.errors) if start <= ended < end)
            windows.append(Window(end - start, latencies, errors))
        first_error = workers.errors[0][1] if workers.errors else ""
    kept = windows[-STABLE_WINDOWS:]
    latencies_us = np.asarray([latency for window in kept for latency in window.latencies]) * 1e6
    seconds = sum(window.seconds for window in kept)
    server = marks[-1][1] - marks[-1 - len(kept)][1]
    row = {
        "concurrency": level,
        "inferences_per_s": len(latencies_us) / seconds,
        "requests": len(latencies_us),
        "errors": sum(window.errors for window in kept),
        "windows": len(windows),
        "stable": stable(windows, options.stability),
        "server_queue_us": server.queue_ns / server.requests / 1e3 if server.requests else None,
        "server_compute_us": server.compute_ns / server.requests / 1e3 if server.requests else None,
        "avg_latency_us": float(latencies_us.mean()) if len(latencies_us) else None,
        "first_error": first_error,
    }
    row.update({f"p{q}_latency_us": float(np.percentile(latencies_us, q)) if len(latencies_us) else None for q in PERCENTILES})
    return row


def measure(call: Callable[[], None], server_times: Callable[[], ServerTimes], options: PerfOptions) -> list[dict]:
    """Every concurrency level in turn, a progress line over them on stderr."""
    options.validate()
    rows = []
    with Progress(len(options.concurrency), what="concurrency levels") as progress:
        for level in options.concurrency:
            rows.append(measure_level(call, server_times, level, options))
            progress.update()
    return rows

"""Measuring a server under load, in either of perf_analyzer's modes: closed loop (a concurrency: each
worker sends the next request when the last is answered) or open loop (a request rate: requests start on
a schedule, whatever the answers). Measurement windows repeat until the last STABLE_WINDOWS agree on
throughput and p95 latency within the stability share, or until `max_trials` windows; the figures are
those of the last STABLE_WINDOWS windows together."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from ..progress import Progress
from ..timing import percentile
from .calls import Sender
from .closed_loop import Workers
from .open_loop import DISTRIBUTIONS, PacedWorkers

PROTOCOLS = ("kserve", "aib")
INPUTS = ("images", "frames")  # normalized float32 tensors, or one encoded PNG per request
MAX_INPUT_FRAMES = 100  # --input-data: the first frames of a source, enough to vary the requests, held in memory


@dataclass(frozen=True)
class ServerTimes:
    """The server's own counters for the model (KServe ModelStatistics): requests, queue and compute."""

    requests: int = 0
    queue_ns: int = 0
    compute_ns: int = 0

    def __sub__(self, other: ServerTimes) -> ServerTimes:
        return ServerTimes(self.requests - other.requests, self.queue_ns - other.queue_ns, self.compute_ns - other.compute_ns)


STABLE_WINDOWS = 3  # perf_analyzer's default: three windows in a row within the stability share
MAX_RATE = 1e6  # requests per second: more than one client process sends is a typo
DELAYED_WARNING = 0.10  # a share of requests sent late above this: the client set the pace
PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class PerfOptions:
    """What `aib perf` measures; `measure` takes the same object."""

    concurrency: tuple[int, ...] = (1,)
    request_rates: tuple[float, ...] = ()  # requests per second; when given, open loop instead of `concurrency`
    distribution: str = "constant"  # of the open loop's arrivals: DISTRIBUTIONS
    max_threads: int = 16  # the open loop's senders
    window_ms: int = 5000
    stability: float = 0.10
    max_trials: int = 10

    def validate(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise OptionError(f"--concurrency-range: expected levels of at least 1, got {self.concurrency}")
        if self.request_rates and not 0 < min(self.request_rates) <= max(self.request_rates) <= MAX_RATE:
            raise OptionError(f"--request-rate-range: expected rates above 0, at most {MAX_RATE:g}, got {self.request_rates}")
        if self.distribution not in DISTRIBUTIONS:
            raise OptionError(f"--request-distribution: expected one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}")
        if self.max_threads < 1:
            raise OptionError(f"--max-threads: expected at least 1, got {self.max_threads}")
        if self.max_trials < STABLE_WINDOWS:
            raise OptionError(
                f"--max-trials: expected at least {STABLE_WINDOWS} (the windows that must agree), got {self.max_trials}"
            )
        if not 0 < self.stability < 1:
            raise OptionError(f"--stability-percentage: expected above 0 and below 100, got {self.stability * 100:g}")


@dataclass(frozen=True)
class Window:
    seconds: float
    latencies: list[float]
    errors: int
    delayed: int = 0  # open loop: requests the client sent later than their slot

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


def measure_level(
    sender: Sender,
    server_times: Callable[[], ServerTimes],
    options: PerfOptions,
    concurrency: int | None = None,
    rate: float | None = None,
) -> dict:
    """One level, a concurrency or a request rate: windows until stable (or max_trials), then the figures of
    the last windows."""
    windows: list[Window] = []
    if rate is None:
        workers: Workers | PacedWorkers = Workers(sender, concurrency)
    else:
        workers = PacedWorkers(sender, rate, options.distribution, options.max_threads)
    with workers:
        time.sleep(min(0.5, options.window_ms / 1e3))  # warm-up: connections, the server's first batches
        marks = [(time.perf_counter(), server_times())]
        while len(windows) < options.max_trials and not stable(windows, options.stability):
            time.sleep(options.window_ms / 1e3)
            marks.append((time.perf_counter(), server_times()))
            (start, _), (end, _) = marks[-2], marks[-1]
            latencies = [latency for ended, latency in list(workers.answers) if start <= ended < end]
            errors = sum(1 for ended, _ in list(workers.errors) if start <= ended < end)
            delayed = sum(1 for at in list(workers.delayed) if start <= at < end)
            windows.append(Window(end - start, latencies, errors, delayed))
        first_error = workers.errors[0][1] if workers.errors else ""
    kept = windows[-STABLE_WINDOWS:]
    latencies_us = np.asarray([latency for window in kept for latency in window.latencies]) * 1e6
    seconds = sum(window.seconds for window in kept)
    server = marks[-1][1] - marks[-1 - len(kept)][1]
    sent = len(latencies_us) + sum(window.errors for window in kept)
    row = {
        "concurrency": concurrency,
        "request_rate": rate,
        "inferences_per_s": len(latencies_us) / seconds,
        "requests": len(latencies_us),
        "errors": sum(window.errors for window in kept),
        "windows": len(windows),
        "stable": stable(windows, options.stability),
        "delayed_share": sum(window.delayed for window in kept) / sent if rate is not None and sent else None,
        "server_queue_us": server.queue_ns / server.requests / 1e3 if server.requests else None,
        "server_compute_us": server.compute_ns / server.requests / 1e3 if server.requests else None,
        "avg_latency_us": float(latencies_us.mean()) if len(latencies_us) else None,
        "first_error": first_error,
    }
    row.update({f"p{q}_latency_us": percentile(latencies_us, q) for q in PERCENTILES})  # None from too few answers
    return row


def measure(sender: Sender, server_times: Callable[[], ServerTimes], options: PerfOptions) -> list[dict]:
    """Every level in turn (the request rates when given, else the concurrencies), a progress line on stderr."""
    options.validate()
    rows = []
    if options.request_rates:
        levels, what = [{"rate": rate} for rate in options.request_rates], "request rates"
    else:
        levels, what = [{"concurrency": level} for level in options.concurrency], "concurrency levels"
    with Progress(len(levels), what=what) as progress:
        for level in levels:
            rows.append(measure_level(sender, server_times, options, **level))
            progress.update()
    return rows

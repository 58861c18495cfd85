"""Open-loop load, as perf_analyzer's request-rate mode: requests start on a schedule (constant or Poisson
arrivals), whatever the answers. Latency counts from each request's scheduled start, so a server that
falls behind is charged for the wait as its users would be (no coordinated omission). Sender threads
take the schedule's slots in turn; a slot taken more than LATE_S after its time means every sender was
busy: then the client, not the server, set the pace, and the row says so."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

DISTRIBUTIONS = ("constant", "poisson")
LATE_S = 0.001  # a request sent later than this after its slot counts as delayed by the client


class PacedWorkers:
    """`threads` senders keeping `rate` requests per second; each answer's end time and latency (from its
    slot) recorded, and each slot taken late."""

    def __init__(self, call: Callable[[], None], rate: float, distribution: str, threads: int, seed: int = 0) -> None:
        self.call = call
        self.rate = rate
        self.distribution = distribution
        self.answers: list[tuple[float, float]] = []  # (end, latency in s); list.append is atomic
        self.errors: list[tuple[float, str]] = []
        self.delayed: list[float] = []  # when a slot was taken late
        self.stop = threading.Event()
        self._random = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _slot(self) -> float:
        with self._lock:
            slot = self._next_slot
            gap = self._random.exponential(1 / self.rate) if self.distribution == "poisson" else 1 / self.rate
            self._next_slot += gap
            return slot

    def _loop(self) -> None:
        while not self.stop.is_set():
            slot = self._slot()
            wait = slot - time.perf_counter()
            if wait > 0:
                if self.stop.wait(wait):
                    return
            elif -wait > LATE_S:
                self.delayed.append(time.perf_counter())
            try:
                self.call()
            except Exception as error:  # noqa: BLE001 - any failed request is counted, and the run goes on
                self.errors.append((time.perf_counter(), str(error).splitlines()[0][:200]))
                continue
            ended = time.perf_counter()
            self.answers.append((ended, ended - slot))

    def __enter__(self) -> PacedWorkers:
        self._next_slot = time.perf_counter()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

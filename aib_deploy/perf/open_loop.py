"""Open-loop load, as perf_analyzer's request-rate mode: requests start on a schedule (constant or Poisson
arrivals), whatever the answers. Latency counts from each request's scheduled start, so a server that
falls behind is charged for the wait as its users would be (no coordinated omission). Sender threads
take the schedule's slots in turn; a slot taken more than LATE_S after its time means every sender was
busy: then the client, not the server, set the pace, and the row says so."""

from __future__ import annotations

import threading
import time

import numpy as np

from .calls import Call, Sender
from .closed_loop import Senders

DISTRIBUTIONS = ("constant", "poisson")
LATE_S = 0.001  # a request sent later than this after its slot counts as delayed by the client


class PacedWorkers(Senders):
    """`threads` senders keeping `rate` requests per second, latency counted from each request's slot."""

    def __init__(self, sender: Sender, rate: float, distribution: str, threads: int, seed: int = 0) -> None:
        super().__init__(sender, threads)
        self.rate = rate
        self.distribution = distribution
        self._random = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._next_slot = 0.0

    def _slot(self) -> float:
        with self._lock:
            slot = self._next_slot
            gap = self._random.exponential(1 / self.rate) if self.distribution == "poisson" else 1 / self.rate
            self._next_slot += gap
            return slot

    def _loop(self, call: Call) -> None:
        while not self.stop.is_set():
            slot = self._slot()
            wait = slot - time.perf_counter()
            if wait > 0:
                if self.stop.wait(wait):
                    return
            elif -wait > LATE_S:
                self.delayed.append(time.perf_counter())
            self._send(call, slot)

    def __enter__(self) -> PacedWorkers:
        self._next_slot = time.perf_counter()
        super().__enter__()
        return self

"""Closed-loop load, as perf_analyzer's concurrency mode: C workers each send a request, wait for its
answer, and send the next."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Workers:
    """C threads calling `call` back to back until stopped; each answer's end time and latency recorded."""

    def __init__(self, call: Callable[[], None], count: int) -> None:
        self.call = call
        self.answers: list[tuple[float, float]] = []  # (end, latency in s); list.append is atomic
        self.errors: list[tuple[float, str]] = []
        self.delayed: list[float] = []  # a closed loop sends each request when it can: never late
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

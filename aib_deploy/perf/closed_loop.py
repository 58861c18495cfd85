"""Closed-loop load, as perf_analyzer's concurrency mode: C workers each send a request, wait for its
answer, and send the next. `Senders` is what both modes' workers share."""

from __future__ import annotations

import threading
import time

from .calls import Call, Sender


def error_text(error: Exception) -> str:
    """A failed request in one short line: a gRPC error's code and details (its str() is many lines)."""
    if callable(getattr(error, "code", None)) and callable(getattr(error, "details", None)):
        return f"{error.code().name}: {error.details()}"[:200]
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


class Senders:
    """Threads sending requests until stopped, each through the call its `sender` opens for it. Each
    answer's end time and latency (from the `since` its thread gives) is recorded, each failure's time and
    first line, and (open loop) each request sent late; the measurement reads those lists by time window."""

    def __init__(self, sender: Sender, threads: int) -> None:
        self.sender = sender
        self.answers: list[tuple[float, float]] = []  # (end, latency in s); list.append is atomic
        self.errors: list[tuple[float, str]] = []
        self.delayed: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with self.sender() as call:
            self._loop(call)

    def _loop(self, call: Call) -> None:
        raise NotImplementedError

    def _send(self, call: Call, since: float) -> None:
        try:
            call()
        except Exception as error:  # noqa: BLE001 - any failed request is counted, and the run goes on
            self.errors.append((time.perf_counter(), error_text(error)))
            return
        ended = time.perf_counter()
        self.answers.append((ended, ended - since))

    def __enter__(self) -> Senders:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


class Workers(Senders):
    """C threads calling back to back; a closed loop sends each request when it can, so none is late."""

    def _loop(self, call: Call) -> None:
        while not self.stop.is_set():
            self._send(call, time.perf_counter())

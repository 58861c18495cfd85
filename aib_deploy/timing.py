"""Wall-clock timing of repeated calls: one loop for `aib bench`, `aib export int8` and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_calls(call: Callable[[], object], warmup: int, runs: int) -> list[float]:
    """Wall-clock milliseconds of `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1e3)
    return timings

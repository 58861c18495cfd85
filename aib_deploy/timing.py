"""Wall-clock timing of repeated calls: one loop for `aib bench`, `aib export int8` and the benchmarks, and
the one rule for which percentiles a number of samples can estimate (`aib bench`, `aib perf`)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

# A percentile from fewer samples than this is the slowest one or an interpolation next to it, not an estimate.
PERCENTILE_MIN_SAMPLES = {50: 1, 90: 10, 95: 20, 99: 100}


def percentile(values: list[float] | np.ndarray, q: int) -> float | None:
    """The q-th percentile of `values`; None when there are too few to estimate it (PERCENTILE_MIN_SAMPLES)."""
    if len(values) < PERCENTILE_MIN_SAMPLES[q]:
        return None
    return float(np.percentile(np.asarray(values), q))


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

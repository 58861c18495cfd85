"""Timing runners side by side on the same batches."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from ..backends.base import Runner
from ..errors import AibError
from ..timing import time_calls


@dataclass(frozen=True)
class BenchOptions:
    """What `aib bench` measures; the same object drives `bench_runners` and the suite."""

    batches: tuple[int, ...] = (1, 8)
    runs: int = 50
    warmup: int = 10
    threads: int = 2
    suite: tuple[str, ...] = field(default_factory=tuple)

    def validate(self) -> None:
        if self.runs < 1 or self.warmup < 0 or any(batch < 1 for batch in self.batches):
            raise AibError("bench: --runs must be >= 1, --warmup >= 0 and every --batch >= 1")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_runner(runner: Runner, batches: list[int], warmup: int, runs: int, seed: int = 0) -> list[dict]:
    runner.activate()
    size = runner.card.input_size
    rows = []
    for batch in batches:
        images = np.random.default_rng(seed).standard_normal((batch, 3, size, size), dtype=np.float32)
        timings = time_calls(lambda: runner.infer(images), warmup, runs)
        median = statistics.median(timings)
        rows.append({
            "backend": runner.label, "model": runner.card.architecture.name, "batch": batch, "runs": runs,
            "median_ms": median, "p90_ms": percentile(timings, 90), "p95_ms": percentile(timings, 95),
            "p99_ms": percentile(timings, 99),
            "images_per_s": batch * 1e3 / median,
        })  # fmt: skip
    return rows


def bench_runners(runners: list[Runner], options: BenchOptions) -> list[dict]:
    """Every runner at every batch size, interleaved per batch so drift hits all backends alike."""
    rows = []
    for batch in options.batches:
        for runner in runners:
            rows.extend(bench_runner(runner, [batch], options.warmup, options.runs))
    return rows

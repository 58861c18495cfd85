"""Timing runners side by side on the same batches."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..backends.base import Runner
from ..compare import compare_outputs
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


def bench_runners(runners: list[Runner], options: BenchOptions) -> list[dict]:
    """Every runner at every batch size, interleaved per batch so drift hits all backends alike.

    Each row also says how often the runner agrees with the first runner of the same model on the same
    batch (top-1 and anchor index), as `yolo benchmark` puts accuracy beside speed.
    """
    rows = []
    for batch in options.batches:
        references: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        for runner in runners:
            runner.activate()
            size = runner.card.input_size
            images = np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32)
            outputs = runner.infer(images)
            comparison = compare_outputs(references.setdefault((runner.card.architecture.name, size), outputs), outputs)
            timings = time_calls(partial(runner.infer, images), options.warmup, options.runs)
            median = statistics.median(timings)
            rows.append(
                {
                    "backend": runner.label,
                    "model": runner.card.architecture.name,
                    "file": runner.path.name if runner.path else "",
                    "batch": batch,
                    "runs": options.runs,
                    "median_ms": median,
                    "p90_ms": percentile(timings, 90),
                    "p95_ms": percentile(timings, 95),
                    "p99_ms": percentile(timings, 99),
                    "images_per_s": batch * 1e3 / median,
                    "top1_agreement": comparison.top1_agreement,
                    "index_agreement": comparison.index_agreement,
                }
            )
    return rows

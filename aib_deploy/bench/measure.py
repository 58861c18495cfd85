"""Timing runners side by side on the same batches."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..backends.base import Runner
from ..compare import compare_outputs
from ..errors import OptionError
from ..progress import Progress
from ..runtime.predictor import check_batch_limit
from ..timing import percentile, time_calls


@dataclass(frozen=True)
class BenchOptions:
    """What `aib bench` measures; the same object drives `bench_runners` and the suite."""

    batches: tuple[int, ...] = (1, 8)
    runs: int = 50
    warmup: int = 10
    threads: int = 2
    suite: tuple[str, ...] = field(default_factory=tuple)
    progress: bool = True  # a progress line on stderr while timing

    def validate(self) -> None:
        if self.runs < 1 or self.warmup < 0 or any(batch < 1 for batch in self.batches):
            raise OptionError("bench: --runs must be >= 1, --warmup >= 0 and every --batch >= 1")


AGREEMENT_INPUT = "random normal images (not real frames; aib compare --input FRAMES measures those)"
SPREAD_WARNING = 2.0  # p90 above this many medians: the machine was busy, or the backend is unsteady


def spread_warning(row: dict, timings: list[float]) -> str | None:
    """One line when a row's timings spread too far to trust its median alone (the slowest run and p90)."""
    slowest, tail = max(timings), float(np.percentile(np.asarray(timings), 90))
    if tail <= SPREAD_WARNING * row["median_ms"]:
        return None
    return (
        f"aib: warning: {row['backend']} batch {row['batch']}: p90 {tail:.3f} ms is {tail / row['median_ms']:.1f}x the "
        f"median {row['median_ms']:.3f} ms (slowest {slowest:.3f} ms); the machine may be busy: rerun, or raise --runs"
    )


def bench_runners(runners: list[Runner], options: BenchOptions) -> list[dict]:
    """Every runner at every batch size, interleaved per batch so drift hits all backends alike.

    Each row also says how often the runner agrees with the first runner of the same model on the same
    batch (top-1 and anchor index), as `yolo benchmark` puts accuracy beside speed. A progress line counts
    the timings, and a row whose runs spread widely gets a warning on stderr.
    """
    rows, warnings = [], []
    for runner in runners:  # every batch fits every model before any timing starts
        runner.activate()
        for batch in options.batches:
            check_batch_limit(batch, runner.card.batch_limit, flag="--batch")
    with Progress(len(options.batches) * len(runners), what="backend timings", enabled=options.progress) as progress:
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
                row = {
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
                    "agreement_input": AGREEMENT_INPUT,
                }
                rows.append(row)
                warnings.append(spread_warning(row, timings))
                progress.update()
    for warning in filter(None, warnings):
        print(warning, file=sys.stderr)
    return rows

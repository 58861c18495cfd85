"""`aib bench`: latency and throughput of backends side by side, in one run.

Each backend runs the same normalized batch; after warm-up, every batch size is
timed `runs` times and reported as median, p90 and p99 latency and images per
second. Ratios compare each backend's median with the first backend's.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import AibError
from .runtime.runners.base import Runner


def percentile(values: list[float], q: float) -> float:
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
            "median_ms": median, "p90_ms": percentile(timings, 90), "p99_ms": percentile(timings, 99),
            "images_per_s": batch * 1e3 / median,
        })  # fmt: skip
    return rows


def bench_runners(runners: list[Runner], batches: list[int], warmup: int, runs: int) -> list[dict]:
    """Every runner at every batch size, interleaved per batch so drift hits all backends alike."""
    rows = []
    for batch in batches:
        for runner in runners:
            rows.extend(bench_runner(runner, [batch], warmup, runs))
    return rows


def environment() -> dict:
    info = {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor()}
    for module in ("onnxruntime", "torch", "numpy"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            pass
    import os

    info["cpus"] = os.cpu_count()
    return info


def format_rows(rows: list[dict]) -> str:
    header = f"{'model':<18} {'backend':<44} {'batch':>5} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'img/s':>9} {'vs first':>9}"
    lines = [header]
    firsts = {}
    for row in rows:
        key = (row["model"], row["batch"])
        firsts.setdefault(key, row["median_ms"])
        ratio = firsts[key] / row["median_ms"]
        lines.append(
            f"{row['model']:<18} {row['backend']:<44} {row['batch']:>5} {row['median_ms']:>10.3f} "
            f"{row['p90_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['images_per_s']:>9.1f} {ratio:>8.2f}x"
        )
    return "\n".join(lines)


def speedups(rows: list[dict]) -> list[str]:
    """'B runs at N.NNx the speed of A' for each backend B after the first backend A, per model and batch."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["batch"]), []).append(row)
    for (model, batch), group in groups.items():
        first = group[0]
        for other in group[1:]:
            out.append(
                f"{model} batch {batch}: {other['backend']} {other['median_ms']:.3f} ms vs {first['backend']} "
                f"{first['median_ms']:.3f} ms: {first['median_ms'] / other['median_ms']:.2f}x the speed"
            )
    return out


def run_bench(args: argparse.Namespace) -> None:
    from .runtime.predictor import open_runner

    if not args.onnx and not args.checkpoint:
        raise AibError("bench: give --onnx MODEL.onnx and/or --checkpoint CHECKPOINT")
    if args.runs < 1 or args.warmup < 0 or any(b < 1 for b in args.batch):
        raise AibError("bench: --runs must be >= 1, --warmup >= 0 and every --batch >= 1")
    runners = []
    if args.onnx:
        runners.append(open_runner(args.onnx, backend="onnxruntime", threads=args.threads))
    if args.checkpoint:
        runners.append(open_runner(args.checkpoint, backend="pytorch", threads=args.threads))
    rows = bench_runners(runners, args.batch, args.warmup, args.runs)
    print(format_rows(rows))
    for line in speedups(rows):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")

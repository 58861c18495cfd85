"""`aib bench`: latency and throughput of backends side by side, in one run.

Each backend runs the same normalized batch; after warm-up, every batch size is
timed `runs` times and reported as median, p90, p95 and p99 latency and images
per second. Ratios compare each backend's median with the first backend's.
`--output DIR` writes bench.json (rows and environment), bench.csv and
bench.png (latency against batch size).
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
            "median_ms": median, "p90_ms": percentile(timings, 90), "p95_ms": percentile(timings, 95),
            "p99_ms": percentile(timings, 99),
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
    """Hardware and library versions, so figures can be compared only where they match."""
    import os

    info = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "cpu": cpu_model()}  # fmt: skip
    for module in ("onnxruntime", "torch", "numpy", "tensorrt"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            pass
    if "onnxruntime" in info:
        info["onnxruntime_providers"] = __import__("onnxruntime").get_available_providers()
    if "torch" in info and __import__("torch").cuda.is_available():
        info["gpu"] = __import__("torch").cuda.get_device_name(0)
    return info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def format_rows(rows: list[dict]) -> str:
    header = (f"{'model':<18} {'backend':<44} {'batch':>5} {'median ms':>10} {'p90 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'img/s':>9} {'vs first':>9}")  # fmt: skip
    lines = [header]
    firsts = {}
    for row in rows:
        key = (row["model"], row["batch"])
        firsts.setdefault(key, row["median_ms"])
        ratio = firsts[key] / row["median_ms"]
        lines.append(
            f"{row['model']:<18} {row['backend']:<44} {row['batch']:>5} {row['median_ms']:>10.3f} "
            f"{row['p90_ms']:>8.3f} {row['p95_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['images_per_s']:>9.1f} {ratio:>8.2f}x"
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


CSV_FIELDS = ("model", "backend", "batch", "runs", "median_ms", "p90_ms", "p95_ms", "p99_ms", "images_per_s")


def write_results(rows: list[dict], output: Path, skipped: dict[str, str] | None = None) -> list[Path]:
    """bench.json (rows, environment, skipped backends), bench.csv and bench.png in `output`."""
    import csv

    from .bench_plot import plot_latency

    output.mkdir(parents=True, exist_ok=True)
    paths = [output / "bench.json", output / "bench.csv", output / "bench.png"]
    document = {"environment": environment(), "rows": rows, "skipped": skipped or {}}
    paths[0].write_text(json.dumps(document, indent=1) + "\n")
    with open(paths[1], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    plot_latency(rows, paths[2], title=f"{document['environment']['cpu']} ({document['environment']['cpus']} CPUs)")
    return paths


def check_counts(args: argparse.Namespace) -> None:
    if args.runs < 1 or args.warmup < 0 or any(b < 1 for b in args.batch):
        raise AibError("bench: --runs must be >= 1, --warmup >= 0 and every --batch >= 1")


def report(rows: list[dict], output: str | None, skipped: dict[str, str] | None = None) -> None:
    print(format_rows(rows))
    for line in speedups(rows):
        print(line)
    for backend, reason in (skipped or {}).items():
        print(f"skipped {backend}: {reason}")
    if output:
        print("wrote " + ", ".join(str(path) for path in write_results(rows, Path(output), skipped)))


def run_bench(args: argparse.Namespace) -> None:
    from .runtime.predictor import open_runner

    check_counts(args)
    if args.suite:
        from .bench_suite import run_suite

        rows, skipped = run_suite(args.suite, args.batch, args.warmup, args.runs, args.threads)
        report(rows, args.output, skipped)
        return
    if not args.models:
        raise AibError("bench: give one or more models (.onnx, checkpoint, .engine), or --suite")
    runners = [open_runner(model, threads=args.threads) for model in args.models]
    report(bench_runners(runners, args.batch, args.warmup, args.runs), args.output)

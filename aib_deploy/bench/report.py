"""Benchmark rows as a table, speed ratios, and bench.json / bench.csv / bench.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .environment import environment
from .plot import plot_latency


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def format_rows(rows: list[dict]) -> str:
    header = (
        f"{'model':<18} {'file':<28} {'backend':<40} {'batch':>5} {'median ms':>10} {'p90 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'img/s':>9} {'vs first':>9} {'top-1 agr':>10} {'index agr':>10}"
    )
    lines = [header]
    firsts = {}
    for row in rows:
        key = (row["model"], row["batch"])
        firsts.setdefault(key, row["median_ms"])
        ratio = firsts[key] / row["median_ms"]
        lines.append(
            f"{row['model']:<18} {row['file'][-28:]:<28} {row['backend']:<40} {row['batch']:>5} {row['median_ms']:>10.3f} "
            f"{row['p90_ms']:>8.3f} {row['p95_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['images_per_s']:>9.1f} {ratio:>8.2f}x "
            f"{share(row['top1_agreement']):>10} {share(row['index_agreement']):>10}"
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


CSV_FIELDS = (
    "model",
    "file",
    "backend",
    "batch",
    "runs",
    "median_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "images_per_s",
    "top1_agreement",
    "index_agreement",
)


def write_results(rows: list[dict], output: Path, skipped: dict[str, str] | None = None) -> list[Path]:
    """bench.json (rows, environment, skipped backends), bench.csv and bench.png in `output`."""
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


def report(rows: list[dict], output: str | None, skipped: dict[str, str] | None = None) -> None:
    print(format_rows(rows))
    for line in speedups(rows):
        print(line)
    for backend, reason in (skipped or {}).items():
        print(f"skipped {backend}: {reason}")
    if output:
        print("wrote " + ", ".join(str(path) for path in write_results(rows, Path(output), skipped)))

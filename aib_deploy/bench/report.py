"""Benchmark rows as a table, speed ratios, and bench.json / bench.csv / bench.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .environment import environment
from .plot import plot_latency

SCHEMA_VERSION = 1  # of bench.json, aib_deploy/data/bench.schema.json


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_rows(rows: list[dict]) -> str:
    """The table, each column as wide as its longest cell (file names are not cut); "-" for a percentile that
    too few runs cannot estimate."""
    firsts: dict[tuple, float] = {}
    cells = []
    for row in rows:
        first = firsts.setdefault((row["model"], row["batch"]), row["median_ms"])
        cells.append(
            [
                row["model"],
                row["file"],
                row["backend"],
                str(row["batch"]),
                milliseconds(row["median_ms"]),
                milliseconds(row["p90_ms"]),
                milliseconds(row["p95_ms"]),
                milliseconds(row["p99_ms"]),
                f"{row['images_per_s']:.1f}",
                f"{first / row['median_ms']:.2f}x",
                share(row["top1_agreement"]),
                share(row["index_agreement"]),
            ]
        )
    header = ["model", "file", "backend", "batch", "median ms", "p90 ms", "p95 ms", "p99 ms", "img/s", "vs first"]
    header += ["top-1 agr", "index agr"]
    widths = [max(len(line[column]) for line in [header, *cells]) for column in range(len(header))]
    left = 3  # model, file and backend read left-aligned, the figures right-aligned

    def joined(line: list[str]) -> str:
        return " ".join(cell.ljust(w) if n < left else cell.rjust(w) for n, (cell, w) in enumerate(zip(line, widths)))

    return "\n".join(joined(line).rstrip() for line in [header, *cells])


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
    "agreement_input",
)


def write_results(rows: list[dict], output: Path, skipped: dict[str, str] | None = None) -> list[Path]:
    """bench.json (rows, environment, skipped backends), bench.csv and bench.png in `output`."""
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / "bench.json", output / "bench.csv", output / "bench.png"]
    document = {"schema_version": SCHEMA_VERSION, "environment": environment(), "rows": rows, "skipped": skipped or {}}
    paths[0].write_text(json.dumps(document, indent=1) + "\n")
    with open(paths[1], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    plot_latency(rows, paths[2], title=f"{document['environment']['cpu']} ({document['environment']['cpus']} CPUs)")
    return paths


def report(rows: list[dict], output: str | None, skipped: dict[str, str] | None = None) -> None:
    print(format_rows(rows))
    if rows:
        print(f"agreement with the first backend of each model and batch: on {rows[0]['agreement_input']}")
    for line in speedups(rows):
        print(line)
    for backend, reason in (skipped or {}).items():
        print(f"skipped {backend}: {reason}")
    if output:
        print("wrote " + ", ".join(str(path) for path in write_results(rows, Path(output), skipped)))

"""`aib perf`'s results: a table for people, a CSV with perf_analyzer's column names (latencies in
microseconds, so its readers and plots take it), and JSON."""

from __future__ import annotations

import csv
from pathlib import Path

# perf_analyzer's names for what `aib perf` measures (its CSV has more columns: those it cannot measure
# from outside a server are left out, not faked).
CSV_COLUMNS = {
    "Concurrency": "concurrency",
    "Inferences/Second": "inferences_per_s",
    "Server Queue": "server_queue_us",
    "Server Compute Infer": "server_compute_us",
    "p50 latency": "p50_latency_us",
    "p90 latency": "p90_latency_us",
    "p95 latency": "p95_latency_us",
    "p99 latency": "p99_latency_us",
    "Avg latency": "avg_latency_us",
    "Errors": "errors",
    "Stable": "stable",
}


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([[cell(row[key]) for key in CSV_COLUMNS.values()] for row in rows])


def table(rows: list[dict]) -> str:
    header = f"{'concurrency':>11} {'infer/s':>9} {'p50 us':>9} {'p90 us':>9} {'p95 us':>9} {'p99 us':>9} {'errors':>6} stable"
    lines = [header]
    for row in rows:
        figures = [cell(row[f"p{q}_latency_us"]) for q in (50, 90, 95, 99)]
        lines.append(
            f"{row['concurrency']:>11} {row['inferences_per_s']:>9.1f} {figures[0]:>9} {figures[1]:>9} {figures[2]:>9} "
            f"{figures[3]:>9} {row['errors']:>6} {cell(row['stable'])}"
        )
    return "\n".join(lines)

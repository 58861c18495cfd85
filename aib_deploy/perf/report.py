"""`aib perf`'s results: a table for people, a CSV with perf_analyzer's column names (latencies in
microseconds, so its readers and plots take it), and JSON."""

from __future__ import annotations

import csv
from pathlib import Path

from ..timing import PERCENTILE_MIN_SAMPLES

# perf_analyzer's names for what `aib perf` measures (its CSV has more columns: those it cannot measure
# from outside a server are left out, not faked).
CSV_COLUMNS = {
    "Concurrency": "concurrency",  # "Request Rate": "request_rate" in open loop, as perf_analyzer writes it
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


def columns(rows: list[dict]) -> dict[str, str]:
    """CSV_COLUMNS, the first naming the level as perf_analyzer does in each mode."""
    if rows and rows[0]["request_rate"] is not None:
        return {"Request Rate": "request_rate", **{name: key for name, key in CSV_COLUMNS.items() if key != "concurrency"}}
    return CSV_COLUMNS


def write_csv(rows: list[dict], path: Path) -> None:
    chosen = columns(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(chosen)
        writer.writerows([[cell(row[key]) for key in chosen.values()] for row in rows])


def table(rows: list[dict]) -> str:
    open_loop = bool(rows) and rows[0]["request_rate"] is not None
    header = f"{'requests/s' if open_loop else 'concurrency':>11} {'infer/s':>9} {'p50 us':>9} {'p90 us':>9} {'p95 us':>9} "
    header += f"{'p99 us':>9} {'answers':>8} {'errors':>6} stable" + (" late" if open_loop else "")
    lines = [header]
    for row in rows:
        figures = [cell(row[f"p{q}_latency_us"]) for q in (50, 90, 95, 99)]
        level = f"{row['request_rate']:g}" if open_loop else str(row["concurrency"])
        late = f" {row['delayed_share']:.0%}" if open_loop else ""
        lines.append(
            f"{level:>11} {row['inferences_per_s']:>9.1f} {figures[0]:>9} {figures[1]:>9} {figures[2]:>9} "
            f"{figures[3]:>9} {row['requests']:>8} {row['errors']:>6} {cell(row['stable']):>6}{late}"
        )
    lines.append(
        f"percentiles from at least {', '.join(f'{n} answers (p{q})' for q, n in PERCENTILE_MIN_SAMPLES.items() if n > 1)}; fewer: left blank"
    )
    return "\n".join(lines)

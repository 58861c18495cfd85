"""`aib perf HOST:PORT`: load on any KServe v2 or aib.v1 server, with perf_analyzer's flag names."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..perf.closed_loop import INPUTS, PROTOCOLS, STABLE_WINDOWS, PerfOptions
from .options import (
    add_client_options,
    add_json_option,
    finite_float,
    human_lines,
    positive_int,
    print_json,
    server_address,
    token,
    whole_number,
)
from .paths import OutputPath, plain_value

MAX_CONCURRENCY = 1024


def concurrency_range(text: str) -> tuple[int, ...]:
    """argparse's type for perf_analyzer's START:END[:STEP] (END and STEP default to START and 1)."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        raise argparse.ArgumentTypeError(f"expected START:END[:STEP], got {text!r}")
    start = whole_number(parts[0], 1, MAX_CONCURRENCY)
    end = whole_number(parts[1], start, MAX_CONCURRENCY) if len(parts) > 1 else start
    step = whole_number(parts[2], 1) if len(parts) > 2 else 1
    return tuple(range(start, end + 1, step))


def add_perf_command(commands: argparse._SubParsersAction) -> None:
    defaults = PerfOptions()
    parser = commands.add_parser(
        "perf",
        help="measure a running server under load (KServe v2 or aib.v1), as Triton's perf_analyzer",
        description="Closed-loop load: at each concurrency, that many clients send a request, wait for its answer, "
        "and send the next. Measurement windows repeat until three in a row agree on throughput and p95 "
        "latency (--stability-percentage), up to --max-trials. Reports throughput, p50/p90/p95/p99 latency, "
        "errors, and the server's own queue and compute time per request (KServe ModelStatistics). Works "
        "against aib serve and Triton Inference Server.",
    )
    parser.add_argument("server", type=server_address, help="HOST:PORT of the server's gRPC endpoint")
    parser.add_argument("-m", "--model-name", type=plain_value, help="the model (default: the server's only model)")
    parser.add_argument(
        "--protocol", default="kserve", choices=PROTOCOLS, help="kserve (default): KServe v2 ModelInfer; aib: aib.v1 Predict"
    )
    parser.add_argument(
        "--input", default="images", choices=INPUTS, help="images (default): a normalized float32 tensor; frames: an encoded PNG"
    )
    parser.add_argument(
        "--concurrency-range",
        type=concurrency_range,
        default=defaults.concurrency,
        metavar="START:END[:STEP]",
        help="concurrency levels (default 1)",
    )
    parser.add_argument(
        "-p",
        "--measurement-interval",
        type=positive_int,
        default=defaults.window_ms,
        metavar="MS",
        help=f"one measurement window in milliseconds (default {defaults.window_ms})",
    )
    parser.add_argument(
        "-s",
        "--stability-percentage",
        type=finite_float,
        default=defaults.stability * 100,
        help=f"windows agree when within this percentage (default {defaults.stability * 100:g})",
    )
    parser.add_argument(
        "--max-trials",
        type=positive_int,
        default=defaults.max_trials,
        help=f"windows at most per level (default {defaults.max_trials})",
    )
    parser.add_argument(
        "-f",
        "--latency-report-file",
        type=OutputPath(suffixes=(".csv",)),
        help="write the results as CSV (perf_analyzer's columns)",
    )
    add_client_options(parser)
    add_json_option(parser)
    parser.set_defaults(handler=run_perf)


def run_perf(args: argparse.Namespace) -> None:
    from ..perf.clients import connect
    from ..perf.closed_loop import measure
    from ..perf.report import table, write_csv

    options = PerfOptions(
        concurrency=tuple(args.concurrency_range),
        window_ms=args.measurement_interval,
        stability=args.stability_percentage / 100,
        max_trials=args.max_trials,
    )
    options.validate()
    with human_lines(args):
        client = connect(args.server, args.protocol, args.model_name, args.input, token(args), args.tls_ca, args.connect_timeout)
        print(
            f"measuring {client.model} on {args.server} ({args.protocol}, {args.input}), {options.window_ms} ms windows",
            flush=True,
        )
        rows = measure(client.call, client.server_times, options)
        print(table(rows))
        for row in rows:
            if not row["stable"]:
                print(
                    f"aib: warning: concurrency {row['concurrency']}: not stable within {args.stability_percentage:g} % after {row['windows']} windows; the figures are the last {min(STABLE_WINDOWS, row['windows'])}"
                )
            if row["errors"]:
                print(
                    f"aib: warning: concurrency {row['concurrency']}: {row['errors']} requests failed, e.g. {row['first_error']}"
                )
        if args.latency_report_file:
            write_csv(rows, Path(args.latency_report_file))
            print(f"wrote {args.latency_report_file}")
    print_json(args, "perf", {"server": args.server, "model": client.model, "protocol": args.protocol, "rows": rows})

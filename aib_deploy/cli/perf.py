"""`aib perf HOST:PORT`: load on any KServe v2 or aib.v1 server, with perf_analyzer's flag names."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import OptionError
from ..perf.measure import DELAYED_WARNING, INPUTS, MAX_INPUT_FRAMES, MAX_RATE, PROTOCOLS, STABLE_WINDOWS, PerfOptions
from ..perf.open_loop import DISTRIBUTIONS
from .options import (
    add_client_options,
    add_failure_option,
    add_json_option,
    check_failures,
    finite_float,
    human_lines,
    positive_int,
    print_json,
    server_address,
    thread_count,
    token,
    whole_number,
)
from .paths import OutputPath, plain_value

MAX_CONCURRENCY = 1024


def range_parts(text: str) -> tuple[str, str, str]:
    """perf_analyzer's START:END[:STEP] as three texts, END defaulting to START and STEP to 1."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        raise argparse.ArgumentTypeError(f"expected START:END[:STEP], got {text!r}")
    return parts[0], parts[1] if len(parts) > 1 else parts[0], parts[2] if len(parts) > 2 else "1"


def concurrency_range(text: str) -> tuple[int, ...]:
    """argparse's type for --concurrency-range START:END[:STEP]."""
    first, last, every = range_parts(text)
    start = whole_number(first, 1, MAX_CONCURRENCY)
    end = whole_number(last, start, MAX_CONCURRENCY)
    return tuple(range(start, end + 1, whole_number(every, 1)))


MAX_LEVELS = 1000  # levels of one sweep
MAX_WINDOW_MS = 3_600_000  # an hour per measurement window


def window_ms(text: str) -> int:
    """argparse's type for -p: milliseconds, 1 to an hour."""
    return whole_number(text, 1, MAX_WINDOW_MS)


def rate_range(text: str) -> tuple[float, ...]:
    """argparse's type for --request-rate-range START:END[:STEP], in requests per second."""
    start, end, step = (finite_float(part) for part in range_parts(text))
    if not 0 < start <= end <= MAX_RATE or step <= 0:
        raise argparse.ArgumentTypeError(f"expected 0 < START <= END <= {MAX_RATE:g} and STEP > 0, got {text!r}")
    count = int((end - start) / step + 1e-9) + 1
    if count > MAX_LEVELS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_LEVELS} rates, got {count} from {text!r}")
    return tuple(start + index * step for index in range(count))


def add_perf_command(commands: argparse._SubParsersAction) -> None:
    defaults = PerfOptions()
    parser = commands.add_parser(
        "perf",
        help="measure a running server under load (KServe v2 or aib.v1), as Triton's perf_analyzer",
        description="Closed-loop load (--concurrency-range): at each concurrency, that many clients send a request, "
        "wait for its answer, and send the next. Open-loop load (--request-rate-range): requests start on a "
        "schedule at each rate, whatever the answers, and latency counts from the schedule. Measurement windows repeat until three in a row agree on throughput and p95 "
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
        "--input",
        default="images",
        choices=INPUTS,
        help="images (default): a normalized float32 tensor (aib.v1: raw pixels); frames: an encoded picture",
    )
    parser.add_argument(
        "--input-data",
        type=plain_value,
        metavar="SOURCE",
        help=f"real frames instead of synthetic ones: an image, a folder or glob of images (sent as their files' "
        f"bytes) or a video (its frames as JPEG), the first {MAX_INPUT_FRAMES} in turn",
    )
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="one bidirectional stream per sender (KServe ModelStreamInfer, aib.v1 StreamFrames), a request "
        "answered before the next, instead of a call per request",
    )
    load = parser.add_argument_group("load (one of)")
    load.add_argument(
        "--concurrency-range",
        type=concurrency_range,
        metavar="START:END[:STEP]",
        help="closed loop: concurrency levels (default 1)",
    )
    load.add_argument(
        "--request-rate-range",
        type=rate_range,
        metavar="START:END[:STEP]",
        help="open loop: requests per second, sent on schedule whatever the answers; latency counts from each "
        "request's scheduled start",
    )
    load.add_argument(
        "--request-distribution",
        default=defaults.distribution,
        choices=DISTRIBUTIONS,
        help=f"open loop: arrivals evenly spaced or random (poisson) (default {defaults.distribution})",
    )
    load.add_argument(
        "--max-threads",
        type=thread_count,
        default=defaults.max_threads,
        help=f"open loop: sender threads (default {defaults.max_threads}); when all are busy requests go out "
        "late, and the row says the client set the pace",
    )
    parser.add_argument(
        "-p",
        "--measurement-interval",
        type=window_ms,
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
    parser.add_argument(
        "--plot",
        type=OutputPath(suffixes=(".png", ".jpg")),
        help="draw p50 and p99 latency against throughput, a point per level, to this picture",
    )
    add_client_options(parser, reconnects=False)
    add_failure_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=run_perf)


def run_perf(args: argparse.Namespace) -> None:
    from ..perf.clients import connect
    from ..perf.frames import input_frames
    from ..perf.measure import measure
    from ..perf.plot import plot_latency_throughput
    from ..perf.report import table, write_csv

    if args.concurrency_range and args.request_rate_range:
        raise OptionError("--concurrency-range and --request-rate-range: give one (closed loop or open loop)")
    if args.input_data and args.protocol == "kserve" and args.input == "images":
        raise OptionError(
            "--input-data: KServe images are tensors normalized with the model's mean and std, which the server does "
            "not publish; send the frames encoded (--input frames), or as raw pixels over aib.v1 (--protocol aib)"
        )
    options = PerfOptions(
        concurrency=tuple(args.concurrency_range or PerfOptions.concurrency),
        request_rates=tuple(args.request_rate_range or ()),
        distribution=args.request_distribution,
        max_threads=args.max_threads,
        window_ms=args.measurement_interval,
        stability=args.stability_percentage / 100,
        max_trials=args.max_trials,
    )
    options.validate()
    with human_lines(args):
        raw = args.protocol == "aib" and args.input == "images"
        frames = input_frames(args.input_data, raw) if args.input_data else None
        client = connect(
            args.server,
            args.protocol,
            args.model_name,
            args.input,
            token(args),
            args.tls_ca,
            args.connect_timeout,
            frames,
            args.streaming,
        )
        sent = f"{len(frames)} frame{'s' if len(frames) > 1 else ''} of {args.input_data}" if frames else "synthetic"
        calls = "streaming" if args.streaming else "unary"
        measured = f"{client.model} on {args.server} ({args.protocol}, {args.input}, {sent}, {calls})"
        print(f"measuring {measured}, {options.window_ms} ms windows", flush=True)
        rows = measure(client.requests.sender, client.server_times, options)
        print(table(rows))
        for row in rows:
            for warning in warnings(row, args.stability_percentage):
                print(f"aib: warning: {warning}", file=sys.stderr)
        if args.latency_report_file:
            write_csv(rows, Path(args.latency_report_file))
            print(f"wrote {args.latency_report_file}")
        if args.plot:
            plot_latency_throughput(rows, Path(args.plot), measured)
            print(f"wrote {args.plot}")
    document = {"server": args.server, "model": client.model, "protocol": args.protocol, "streaming": args.streaming}
    print_json(args, "perf", {**document, "rows": rows})
    failed = sum(row["errors"] for row in rows)
    check_failures(args, failed, failed + sum(row["requests"] for row in rows), "measured requests")


def warnings(row: dict, stability_percentage: float) -> list[str]:
    """What makes a row's figures doubtful, one phrase each, its level first."""
    level = f"concurrency {row['concurrency']}" if row["request_rate"] is None else f"{row['request_rate']:g} requests/s"
    said = []
    if not row["stable"]:
        said.append(
            f"{level}: not stable within {stability_percentage:g} % after {row['windows']} windows; the figures are "
            f"the last {min(STABLE_WINDOWS, row['windows'])}"
        )
    if row["errors"]:
        said.append(f"{level}: {row['errors']} requests failed, e.g. {row['first_error']}")
    if row["delayed_share"] is not None and row["delayed_share"] > DELAYED_WARNING:
        said.append(
            f"{level}: {row['delayed_share']:.0%} of requests went out late (every sender busy): the client could not "
            "keep the rate, so these figures measure it too; raise --max-threads, or lower the rate"
        )
    return said

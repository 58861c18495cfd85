"""Option groups shared by several commands (after Polygraphy's argument groups).

Each group adds its flags and turns parsed arguments into the typed options the
library takes, so a flag is defined once and its default comes from the
options dataclass it fills.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..backends.onnxrt import DEVICES
from ..backends.pytorch import COMPILE_MODES as TORCH_COMPILE_MODES
from ..backends.pytorch import PRECISIONS as TORCH_PRECISIONS
from ..bench.measure import BenchOptions
from ..card.presets import read_labels
from ..errors import AibError, OptionError
from ..runtime.loader import BACKENDS, RunnerOptions
from ..serving.options import CONNECT_TIMEOUT_S, MAX_TIMEOUT_S, MICRO_BATCH, ServerOptions
from .paths import InputPath, plain_value

MEGABYTE = 1 << 20

TOKEN_VARIABLE = "AIB_TOKEN"
MAX_PORT = 65535
MAX_THREADS = 1024
MAX_COUNT = 2**31 - 1  # what a C int (and so every native library) holds
COMMAND_SCHEMA_VERSION = 1  # of --json output, aib_deploy/data/command.schema.json


def finite_float(text: str) -> float:
    """argparse's type for every float flag: inf, nan and numbers too large for a float are refused
    here, in one line naming the flag, before any command turns them into sleeps, sizes or shares."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def timeout_seconds(text: str) -> float:
    """argparse's type for waits: above 0 and at most MAX_TIMEOUT_S (a day)."""
    value = finite_float(text)
    if not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"expected seconds above 0, at most {MAX_TIMEOUT_S:g}, got {text!r}")
    return value


def whole_number(text: str, low: int, high: int | None = None) -> int:
    """`text` as an int within [low, high], or argparse's one line naming the flag and what it expected."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected at least {low}, got {value}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"expected at most {high}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse's type for counts and sizes that must be at least 1 (threads, frames, batches): 0 and negatives
    are refused in one line naming the flag, instead of reaching a backend that reads them as "choose for me"
    or fails later."""
    return whole_number(text, 1, MAX_COUNT)


def thread_count(text: str) -> int:
    """argparse's type for threads, instances and decode threads: 1 to MAX_THREADS (a trillion threads once
    reached ONNX Runtime as a traceback, 99,999 as a hang)."""
    return whole_number(text, 1, MAX_THREADS)


def non_negative_int(text: str) -> int:
    """argparse's type for counts where 0 means none (warm-up runs, a delay)."""
    return whole_number(text, 0)


def port_number(text: str) -> int:
    """argparse's type for a port to listen on: 0 picks a free one."""
    return whole_number(text, 0, MAX_PORT)


def server_address(text: str) -> str:
    """argparse's type for the HOST:PORT a client connects to ([::1]:50051 for IPv6): a port outside 1 to
    65535 is one line here, not a connection attempt that waits out its timeout."""
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        whole_number(port, 1, MAX_PORT)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"port of {text}: {error}") from None
    return text


def add_runner_options(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    group = parser.add_argument_group("backend")
    group.add_argument("--backend", choices=BACKENDS, help="default: by the model's file type (.onnx, checkpoint, .engine/.plan)")
    group.add_argument(
        "--device",
        default=RunnerOptions.device,
        choices=DEVICES,
        help="ONNX Runtime execution provider (default auto: TensorRT or CUDA when this onnxruntime "
        "has them, else CPU); PyTorch: cuda or cpu",
    )
    if threads:
        group.add_argument("--threads", type=thread_count, help="intra-op threads (default: the backend chooses)")
    group.add_argument(
        "--precision",
        choices=TORCH_PRECISIONS,
        help="checkpoints on PyTorch: fp32 (TF32 off, the default), tf32 (CUDA only), or fp16 with the snap in "
        "float32, as `aib export fp16` writes it; exported files carry their own precision",
    )
    group.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="capture one CUDA graph per batch size and replay it (PyTorch on CUDA, TensorRT engines)",
    )
    group.add_argument(
        "--compile",
        nargs="?",
        const="default",
        choices=TORCH_COMPILE_MODES,
        metavar="MODE",
        help="checkpoints on PyTorch: run through torch.compile in MODE (default mode when none is named; "
        f"{', '.join(TORCH_COMPILE_MODES)}); the first call of each batch size compiles",
    )


def runner_options(args: argparse.Namespace, **overrides: object) -> RunnerOptions:
    return RunnerOptions(
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        labels=read_labels(getattr(args, "labels", None)),
        precision=args.precision,
        cuda_graphs=args.cuda_graphs,
        compile_mode=args.compile,
        **overrides,
    )


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """--batch, --runs, --warmup and --threads of `aib bench` and the benchmark scripts."""
    defaults = BenchOptions()
    group = parser.add_argument_group("timing")
    group.add_argument(
        "--batch",
        type=positive_int,
        nargs="+",
        default=list(defaults.batches),
        help=f"batch sizes (default {' '.join(map(str, defaults.batches))})",
    )
    group.add_argument(
        "--runs", type=positive_int, default=defaults.runs, help=f"timed runs per backend and batch (default {defaults.runs})"
    )
    group.add_argument(
        "--warmup", type=non_negative_int, default=defaults.warmup, help=f"untimed runs first (default {defaults.warmup})"
    )
    group.add_argument(
        "--threads", type=thread_count, default=defaults.threads, help=f"CPU threads per backend (default {defaults.threads})"
    )


def bench_options(args: argparse.Namespace, suite: tuple[str, ...] = ()) -> BenchOptions:
    options = BenchOptions(batches=tuple(args.batch), runs=args.runs, warmup=args.warmup, threads=args.threads, suite=suite)
    options.validate()
    return options


def add_megabytes(group: argparse._ArgumentGroup, flag: str, default_bytes: int, text: str) -> None:
    """A size option given in MB (fractions allowed) whose default is a setting in bytes; `megabytes` reads it."""
    group.add_argument(
        flag, type=finite_float, default=default_bytes / MEGABYTE, help=f"{text} (default {default_bytes / MEGABYTE:g})"
    )


def megabytes(value: float) -> int:
    """An MB option's value in bytes."""
    return int(value * MEGABYTE)


def add_serving_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("serving limits")
    group.add_argument(
        "--max-batch",
        type=positive_int,
        help=f"largest micro-batch, at most the model's (default {MICRO_BATCH}, or the model's largest batch if smaller)",
    )
    group.add_argument(
        "--max-delay-ms",
        type=finite_float,
        default=ServerOptions.max_delay_ms,
        help=f"longest wait to fill a batch (default {ServerOptions.max_delay_ms:g})",
    )
    group.add_argument(
        "--max-streams",
        type=positive_int,
        default=ServerOptions.max_streams,
        help=f"concurrent calls before RESOURCE_EXHAUSTED (default {ServerOptions.max_streams})",
    )
    group.add_argument(
        "--max-pixels",
        type=positive_int,
        default=ServerOptions.max_pixels,
        help=f"largest frame in pixels, checked in its header before decoding (default {ServerOptions.max_pixels})",
    )
    add_megabytes(
        group,
        "--max-inflight-mb",
        ServerOptions.max_inflight_bytes,
        "frames held across all streams, payload plus decoded picture; past it streams are read more slowly",
    )
    group.add_argument(
        "--idle-timeout-s",
        type=finite_float,
        default=ServerOptions.idle_timeout_s,
        help=f"close a stream that sends no frame for this long (default {ServerOptions.idle_timeout_s:g})",
    )
    group.add_argument(
        "--write-timeout-s",
        type=finite_float,
        default=ServerOptions.write_timeout_s,
        help="end a stream whose client has not read its next answer for this long, freeing its slot "
        f"(default {ServerOptions.write_timeout_s:g})",
    )
    group.add_argument(
        "--max-repeated",
        type=positive_int,
        default=ServerOptions.max_repeated,
        help="entries of any one repeated field of a request (inputs, shape, parameters, BYTES elements), "
        f"checked on its bytes before parsing; raised to the model's largest batch (default {ServerOptions.max_repeated})",
    )
    group.add_argument(
        "--max-fields",
        type=positive_int,
        default=ServerOptions.max_fields,
        help=f"fields of one request in all, at every depth, checked before parsing (default {ServerOptions.max_fields})",
    )
    group.add_argument(
        "--instances",
        type=thread_count,
        default=ServerOptions.instances,
        help="inference sessions of the model, each on its own thread, sharing one batch queue "
        f"(default {ServerOptions.instances}); with --threads, sessions x threads should fit the cores",
    )
    group.add_argument(
        "--decode-threads",
        type=thread_count,
        default=ServerOptions.decode_threads,
        help=f"threads that decode JPEG/PNG frames (default {ServerOptions.decode_threads})",
    )
    add_megabytes(
        group,
        "--decode-memory-mb",
        ServerOptions.decode_memory_bytes,
        "decoded pictures the decode threads hold at once; a 1080p frame takes 6 MB, so raise it with "
        "--decode-threads for many large frames",
    )


def add_token_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--token",
        type=plain_value,
        help=f"{help_text}; visible to other users in the process list, so prefer ${TOKEN_VARIABLE} or --token-file",
    )
    parser.add_argument("--token-file", type=InputPath(), help="read the token from this file (its first line)")


def token(args: argparse.Namespace) -> str | None:
    """--token, else --token-file's first line, else $AIB_TOKEN; an empty token is refused, never ignored."""
    if args.token is not None and args.token_file is not None:
        raise OptionError("--token and --token-file: give one of them")
    if args.token_file is not None:
        try:
            lines = Path(args.token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise AibError(f"--token-file {args.token_file}: cannot read it ({type(error).__name__})") from None
        value = lines[0].strip() if lines else ""
        if not value:
            raise AibError(f"--token-file {args.token_file}: empty")
        return checked_token(f"--token-file {args.token_file}", value)
    value = args.token if args.token is not None else os.environ.get(TOKEN_VARIABLE)
    flag = "--token" if args.token is not None else f"${TOKEN_VARIABLE}"
    if value is not None and not value.strip():
        raise OptionError(f"{flag}: empty; an empty token would turn authentication off (unset it for no token)")
    return None if value is None else checked_token(flag, value)


def checked_token(flag: str, value: str) -> str:
    """A token gRPC can carry: printable ASCII (metadata values); anything else no client could ever send."""
    if not (value.isascii() and value.isprintable()):
        raise OptionError(f"{flag}: a token is printable ASCII (gRPC metadata), got another character")
    return value


def optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def add_failure_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 when some images, frames or requests fail, not all (they are still counted and reported)",
    )


def check_failures(args: argparse.Namespace, failed: int, total: int, what: str) -> None:
    """Exit non-zero when any of `total` items failed, unless --allow-failures: a partial result is not a
    success to a script that checks the exit code."""
    if total and failed == total:  # nothing to allow: there is no result
        raise AibError(f"all {total} {what} failed")
    if failed and not args.allow_failures:
        raise AibError(f"{failed} of {total} {what} failed; the others' results were written (--allow-failures: exit 0)")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on standard output (aib_deploy/data/command.schema.json); the lines a "
        "person reads go to standard error",
    )


@contextlib.contextmanager
def human_lines(args: argparse.Namespace) -> Iterator[None]:
    """With --json, what the command prints for people goes to stderr, so stdout holds only the JSON."""
    if not args.json:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def print_json(args: argparse.Namespace, command: str, document: dict) -> None:
    """The command's result as one JSON object (with --json): what it wrote and what it measured."""
    if args.json:
        print(json.dumps({"schema_version": COMMAND_SCHEMA_VERSION, "command": command, **document}, indent=1))


def add_client_options(parser: argparse.ArgumentParser, reconnects: bool) -> None:
    """How a client command (`aib stream`, `aib perf`) reaches a server: the token, TLS, the connect timeout
    (`reconnects`: also how long the command waits for a server it lost)."""
    add_token_option(parser, "bearer token")
    parser.add_argument("--tls-ca", type=InputPath(), help="PEM root certificate: connect with TLS")
    when = "at the start and after a lost connection" if reconnects else "at the start"
    parser.add_argument(
        "--connect-timeout",
        type=timeout_seconds,
        default=CONNECT_TIMEOUT_S,
        help=f"seconds to wait for the server, {when} (default {CONNECT_TIMEOUT_S:g})",
    )

"""The `aib` command: one parser module per command family. User errors end as one
line on stderr and exit code 1.

Handlers import what is heavy (torch, onnx, grpc) only when their command runs,
so `aib --help` and the serving path never import torch.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from .. import __version__
from ..errors import AibError, OptionError

try:
    from .bench import add_bench_command
    from .compare import add_compare_command
    from .demo import add_demo_command
    from .eval import add_eval_command
    from .export import add_export_commands
    from .info import add_info_command
    from .perf import add_perf_command
    from .predict import add_predict_command
    from .serve import add_serve_command
    from .stream import add_stream_command
except KeyboardInterrupt:  # Ctrl-C while the command modules load: the line it gets once they have
    sys.stderr.write("aib: interrupted\n")
    raise SystemExit(130) from None

# Optional heavy modules and the extra that installs each.
EXTRAS = {"torch": "export", "onnx": "export", "onnxscript": "export"}


class OneLineParser(argparse.ArgumentParser):
    """argparse's usage errors as the one `aib: error:` line every other mistake gets; every command's
    parser is one (argparse makes subparsers of the parent's class). A negative number in exponent form
    (`--mean -1e30 0 0`) is a value, not an unknown option, as -1 and -0.5 already are."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$", re.IGNORECASE)

    def error(self, message: str) -> None:
        print(f"aib: error: {self.prog}: {message}; see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="aib", description="Export, serve and benchmark AIB attention classifiers.")
    parser.add_argument("--version", action="version", version=f"aib-deploy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_export_commands,
        add_info_command,
        add_compare_command,
        add_predict_command,
        add_eval_command,
        add_bench_command,
        add_demo_command,
        add_serve_command,
        add_stream_command,
        add_perf_command,
    ):
        add(commands)
    return parser


def unknown_option(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """One line for the first --option the chosen command does not know, with the closest one it does.

    argparse would report it from the top-level parser, or not at all when a missing required
    option is found first (`--ouput` -> "-o is required")."""
    command, path = parser, ["aib"]
    for token in argv:
        subcommands = next((a for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
        if subcommands is not None and token in subcommands.choices:
            command, path = subcommands.choices[token], [*path, token]
    known = list(command._option_string_actions)
    for token in argv:
        name = token.split("=", 1)[0]
        if name.startswith("--") and name != "--" and name not in known:
            words = {option.lstrip("-"): option for option in known if option.startswith("--")}
            close = difflib.get_close_matches(name.lstrip("-"), list(words), n=1, cutoff=0.75)
            hint = f"; did you mean {words[close[0]]}?" if close else f"; see `{' '.join(path)} --help`"
            return f"{' '.join(path)}: unknown option {name}{hint}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    # gRPC's C core logs on the stderr our one error line goes to (a failed TLS handshake once per retry, a
    # port it cannot bind), and every such failure reaches us as an error we name; GRPC_VERBOSITY=ERROR (or
    # INFO) set by the user shows its lines again.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    problem = unknown_option(parser, argv)
    if problem is not None:
        print(f"aib: error: {problem}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    with terminated_as_interrupted():
        return run_handler(args)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is, so a terminated command removes its partial files too."""


@contextlib.contextmanager
def terminated_as_interrupted() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread while a command runs (`aib serve` handles it itself)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_handler(args: argparse.Namespace) -> int:
    """The command's handler, its errors as one line and an exit code."""
    try:
        args.handler(args)
    except AibError as error:
        print(f"aib: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, OptionError) else 1  # a value wrong in itself is a usage error, as argparse's
    except ModuleNotFoundError as error:
        if error.name not in EXTRAS:
            raise
        print(
            f"aib: error: this command needs {error.name}, which is not installed here; install it from the "
            f"aib-deploy checkout with: pip install -e '.[{EXTRAS[error.name]}]' (torch: pip install torch first)",
            file=sys.stderr,
        )
        return 1
    except Terminated:
        print("aib: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("aib: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # the machine refused a read or write: permissions, a full disk, a read-only mount
        where = error.filename if error.filename is not None else "a file"
        print(f"aib: error: {where}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

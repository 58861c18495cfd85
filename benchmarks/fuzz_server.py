"""Long-run fuzzing of `aib serve`: the suite's fuzzer (tests/helpers/fuzz.py) for as many cases as asked, every
method of both protocols, with a share of huge requests, after the requests that hurt the server before.

    .venv/bin/python -m benchmarks.fuzz_server [--cases 20000] [--seed 0] [--huge-share 1] [--model FILE.onnx]

One server in its own process for the whole run (a fresh one after a case kills it, wedges it or leaves it over the
memory bound), the demo model exported unless --model is given. Prints the cases run, the crashes (the server died
or stopped answering health), the longest wait of the concurrent health/GetModelInfo prober, the server's worst
peak RSS, the count per gRPC status code, the slowest cases, and every distinct failure with how often it came and
its first recipe: `FuzzServer(model).run(recipe)` replays it. Exits 1 when any case broke a bound or a rule.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.helpers.fuzz import KNOWN_HOSTILE, METHODS, Bounds, FuzzServer, Recipe, Verdict, recipes
from tests.helpers.server import MAX_PIXELS

PROGRESS_EVERY = 250
SLOWEST = 5


@dataclass
class Tally:
    """What a run saw. Failing cases are grouped by their first problem, numbers taken out: one group per failure."""

    cases: int = 0
    crashes: int = 0
    worst_stall_ms: float = 0.0
    worst_peak_mb: float = 0.0
    codes: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    first: dict[str, Verdict] = field(default_factory=dict)
    slowest: list[Verdict] = field(default_factory=list)

    def add(self, verdict: Verdict) -> None:
        self.cases += 1
        self.crashes += verdict.crashed
        self.worst_stall_ms = max(self.worst_stall_ms, verdict.stall_ms)
        self.worst_peak_mb = max(self.worst_peak_mb, verdict.peak_mb)
        self.codes[verdict.code.name] += 1
        if verdict.problems:
            kind = f"{verdict.recipe.method}: {re.sub(r'[0-9]+', 'N', verdict.problems[0])[:140]}"
            self.problems[kind] += 1
            self.first.setdefault(kind, verdict)
        self.slowest = sorted([*self.slowest, verdict], key=lambda each: -each.seconds)[:SLOWEST]


def fuzz(server: FuzzServer, cases: int, seed_value: int, huge_share: int, tally: Tally) -> None:
    """The requests that hurt the server before, then `cases` recipes Hypothesis draws from a fixed seed; every verdict
    goes to `tally`, none stops the run."""
    started = time.monotonic()
    for recipe in KNOWN_HOSTILE.values():
        tally.add(server.run(recipe))

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example),
    )
    @seed(seed_value)
    @given(recipe=recipes(tuple(METHODS), huge_share=huge_share))
    def one(recipe: Recipe) -> None:
        tally.add(server.run(recipe))
        if tally.cases % PROGRESS_EVERY == 0:
            print(
                f"  {tally.cases} cases in {time.monotonic() - started:.0f} s: {tally.crashes} crashes, "
                f"{len(tally.problems)} distinct failures",
                file=sys.stderr,
                flush=True,
            )

    one()


def report(tally: Tally, seconds: float, args: argparse.Namespace, server: FuzzServer) -> str:
    """The run in a few lines, then each failure with its first recipe, ready to replay."""
    bounds = server.bounds
    lines = [
        f"fuzz_server: {tally.cases} cases in {seconds:.0f} s (seed {args.seed}, huge share {args.huge_share}%, "
        f"--max-pixels {args.max_pixels}); the server was restarted {server.restarts} times",
        f"  cases run:            {tally.cases} ({len(KNOWN_HOSTILE)} known hostile ones, then drawn ones)",
        f"  crashes:              {tally.crashes} (the server died or stopped answering health)",
        f"  worst prober stall:   {tally.worst_stall_ms:.0f} ms (bound {bounds.stall_ms:g})",
        f"  worst server peak:    {tally.worst_peak_mb:.0f} MB RSS (bound {bounds.rss_mb:g})",
        "  status codes:         " + ", ".join(f"{name} {count}" for name, count in tally.codes.most_common()),
        f"  slowest {SLOWEST} cases:",
        *(f"    {verdict.seconds:6.2f} s {verdict.code.name:<20} {verdict.recipe!r}"[:400] for verdict in tally.slowest),
        f"  distinct failures:    {len(tally.problems)} ({sum(tally.problems.values())} failing cases)",
    ]
    for kind, count in tally.problems.most_common():
        lines += [f"  [{count}x] {kind}", "    first: " + str(tally.first[kind]).replace("\n", "\n    ")]
    return "\n".join(lines)


def exported_demo(folder: Path) -> Path:
    """The committed demo model exported as the suite's `demo_onnx` fixture does."""
    from aib_deploy.demo.run import bundled_checkpoint
    from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint

    path = folder / "demo.onnx"
    export_checkpoint(bundled_checkpoint(), path, OnnxExportOptions())
    return path


def main(argv: list[str] | None = None) -> int:
    """Fuzz, print the report; 1 if any case failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis's seed: the same seed draws the same cases")
    parser.add_argument("--huge-share", type=int, default=1, help="in 100 count draws, how many are huge (up to 16M)")
    parser.add_argument("--model", type=Path, help="an ONNX file to serve (default: the demo model, exported now)")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="the server's --max-pixels (the suite's)")
    parser.add_argument("--timeout-s", type=float, default=Bounds.call_s, help="the most a call may take")
    parser.add_argument("--max-stall-ms", type=float, default=Bounds.stall_ms, help="the longest wait of the prober")
    parser.add_argument("--max-rss-mb", type=float, default=Bounds.rss_mb, help="the server's largest peak RSS")
    parser.add_argument("--kill-above-mb", type=float, default=Bounds.kill_above_mb, help="kill a server past this RSS")
    args = parser.parse_args(argv)
    bounds = Bounds(args.timeout_s, args.max_stall_ms, args.max_rss_mb, args.kill_above_mb)
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or exported_demo(Path(folder))
        started = time.monotonic()
        tally = Tally()
        with FuzzServer(model, bounds, args.max_pixels) as server:
            fuzz(server, args.cases, args.seed, args.huge_share, tally)
            print(report(tally, time.monotonic() - started, args, server))
    return 1 if tally.problems else 0


if __name__ == "__main__":
    sys.exit(main())

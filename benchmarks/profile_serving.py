"""Where `aib serve` spends its CPU under load: py-spy samples the server while `aib perf` drives it.

    .venv/bin/python -m benchmarks.profile_serving --py-spy PATH [--concurrency 8] [--seconds 15] [--out DIR]
        [-- extra aib serve flags]

py-spy is a sampling profiler that reads the server's stacks from outside (it is not a dependency of
aib-deploy: `pip install --target DIR py-spy` and pass DIR/bin/py-spy). The server runs the demo model
with 2 inference threads, as in benchmarks/kserve_triton.py; the load is `aib perf`'s closed loop over
KServe v2 at `--concurrency`. Writes a flame graph (SVG) and the collapsed stacks, and prints the
functions with the most samples, self and total, as shares of all samples the server's threads took
while holding the GIL (`--gil`: what the one Python thread of the front end spends).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

from aib_deploy.demo.run import export_demo_model
from aib_deploy.perf.clients import connect
from aib_deploy.perf.measure import PerfOptions, measure_level
from tests.helpers.server import ServerProcess

TOP = 25


def shares(collapsed: Path) -> tuple[int, collections.Counter, collections.Counter]:
    """Samples in all, and per function its self samples (top of the stack) and total (anywhere in it)."""
    own, anywhere, total = collections.Counter(), collections.Counter(), 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
    return total, own, anywhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--py-spy", type=Path, required=True, help="the py-spy executable")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-amd-epyc-2cores"))
    parser.add_argument("serve_flags", nargs="*", help="extra `aib serve` flags (after --)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(export_demo(), "--threads", "2", *args.serve_flags)
    try:
        client = connect(server.address, "kserve", None, "images", None, None, 30)
        collapsed, flame = args.out / "serve_profile.collapsed.txt", args.out / "serve_profile.svg"
        common = [
            str(args.py_spy),
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(args.seconds),
            "--gil",
            "--nonblocking",
        ]
        recorders = [
            subprocess.Popen([*common, "--format", "raw", "--output", str(collapsed)], stdout=subprocess.DEVNULL),
            subprocess.Popen([*common, "--format", "flamegraph", "--output", str(flame)], stdout=subprocess.DEVNULL),
        ]
        options = PerfOptions(window_ms=args.seconds * 1000 // 3, max_trials=3)
        row = measure_level(client.requests.sender, client.server_times, options, concurrency=args.concurrency)
        for recorder in recorders:
            recorder.wait()
    finally:
        server.stop()
    print(f"load: C={args.concurrency}, {row['inferences_per_s']:.0f} inferences/s, p99 {row['p99_latency_us'] / 1e3:.2f} ms")
    total, own, anywhere = shares(collapsed)
    print(f"{total} samples holding the GIL; top functions, self and total share:")
    for frame, count in own.most_common(TOP):
        print(f"  self {count / total:6.1%}  total {anywhere[frame] / total:6.1%}  {frame}")
    print(f"wrote {flame} and {collapsed}")


def export_demo() -> Path:
    """The demo model's ONNX file, exported into a temporary folder."""
    return export_demo_model(Path(tempfile.mkdtemp()))


if __name__ == "__main__":
    sys.exit(main())

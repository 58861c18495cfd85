"""`aib serve` (KServe v2 and aib.v1) against a real Triton Inference Server, side by side in one run,
measured by `aib perf` (its Python API: the same clients, windows and figures as the command).

    .venv/bin/python -m benchmarks.kserve_triton [--models demo vgg_cifar] [--concurrency 1 4 8 16]
        [--rate-shares 0.5 0.8 0.95] [--rounds 3] [--json FILE] [--markdown FILE]

For each model (the demo model, and VGG-CIFAR-qt with fresh weights) three targets are loaded:
1. `aib serve` over KServe v2 (`ModelInfer`, a normalized FP32 `images` tensor);
2. `aib serve` over aib.v1 (`Predict`, the raw frame, which the server normalizes);
3. Triton (the `tritonserver` of the nvidia-pytriton wheel) with the repository `aib export triton
   --backend python` writes (ONNX Runtime inside Triton's Python backend, dynamic batching), over KServe v2
   as in 1.
Both servers run at once, in their own processes on loopback with 2 inference threads (`aib serve --threads 2`;
the Python-backend model's ONNX Runtime session likewise) and the same batching (at most 8 frames, 2 ms). The
client shares the machine with the servers. First the closed loop: each concurrency, each target. Then the
open loop at shares of Triton's saturation rate (its highest closed-loop throughput, median over rounds).
Targets take turns in `--rounds` rounds, each round in another order, so drift on a shared machine hits all
alike. Printed and written: the median over rounds of inferences/s, p50 and p99 latency, the server's CPU time
per answered request (its process tree), the rounds' throughput range, and the ratios against Triton.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2

from aib_deploy.bench.suite import SUITE_MODELS, fresh_checkpoint
from aib_deploy.demo.run import export_demo_model
from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint
from aib_deploy.perf.calls import Call, Sender
from aib_deploy.perf.clients import connect
from aib_deploy.perf.measure import PerfOptions, measure_level
from aib_deploy.serving.options import MICRO_BATCH
from tests.helpers.server import ServerProcess
from tests.helpers.tritonserver import PYTHON_BACKEND_FLAGS, TritonServer, triton_unavailable

AIB = Path(sys.executable).with_name("aib")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TRITON = "Triton python backend"
WINDOW_MS = {"demo": 1000, "vgg_cifar": 4000}  # VGG-CIFAR answers about 20 a second: windows long enough for p99


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by a process and its descendants (Triton's Python-backend stubs)."""
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total = 0.0
    for pid, seconds in times.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        total += seconds if ancestor == root else 0.0
    return total


class Counted:
    """A sender whose calls are counted, so the server's CPU time can be divided by the requests it answered."""

    def __init__(self, sender: Sender) -> None:
        self.sender, self.answered = sender, itertools.count()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Call]:
        with self.sender() as call:

            def counted() -> None:
                call()
                next(self.answered)

            yield counted


def level(client, pid: int, options: PerfOptions, **load: float) -> dict:
    """One `aib perf` level against one target, with the server's CPU milliseconds per answered request."""
    counted = Counted(client.requests.sender)
    cpu_before = tree_cpu_s(pid)
    row = measure_level(counted, client.server_times, options, **load)
    answered = next(counted.answered)
    row["server_cpu_ms_per_request"] = (tree_cpu_s(pid) - cpu_before) * 1e3 / max(answered, 1)
    return row


def models(folder: Path, names: list[str]) -> dict[str, Path]:
    paths = {}
    if "demo" in names:
        paths["demo"] = export_demo_model(folder)
    if "vgg_cifar" in names:
        paths["vgg_cifar"] = folder / "vgg_cifar_qt.onnx"
        export_checkpoint(
            fresh_checkpoint(SUITE_MODELS["vgg_cifar"], folder, "vgg_cifar_qt"), paths["vgg_cifar"], OnnxExportOptions()
        )
    return paths


def python_repository(model: Path, repository: Path) -> str:
    """The Triton repository `aib export triton --backend python` writes; returns the model's name."""
    subprocess.run(
        [
            str(AIB),
            "export",
            "triton",
            str(model),
            "--repository",
            str(repository),
            "--backend",
            "python",
            "--kind",
            "cpu",
            "--max-batch",
            str(MICRO_BATCH),
            *PYTHON_BACKEND_FLAGS,
        ],
        check=True,
        capture_output=True,
    )
    (name,) = [path.name for path in repository.iterdir() if path.is_dir()]
    return name


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def sweep(targets: dict, loads: list[dict], rounds: int, options: PerfOptions) -> dict[tuple[str, str], list[dict]]:
    """Every load on every target, `rounds` times, each round's targets in another order."""
    runs: dict[tuple[str, str], list[dict]] = {}
    names = list(targets)
    for round_number in range(rounds):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for load in loads:
            for target in order:
                client, pid = targets[target]
                row = level(client, pid, options, **load)
                runs.setdefault((target, load_name(load)), []).append(row)
                print(
                    f"  round {round_number + 1} {load_name(load):>14} {target:24s} {row['inferences_per_s']:8.1f}/s", flush=True
                )
    return runs


def load_name(load: dict) -> str:
    return f"C={load['concurrency']}" if "concurrency" in load else f"{load['rate']:.0f} req/s"


def median_or_none(values: list) -> float | None:
    return None if any(value is None for value in values) else statistics.median(values)


def summarised(model: str, runs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """Medians over rounds per target and load, the rounds' throughput range, and ratios against Triton."""
    rows = []
    for (target, load), values in runs.items():
        throughputs = [run["inferences_per_s"] for run in values]
        p99 = median_or_none([run["p99_latency_us"] for run in values])
        compute = median_or_none([run["server_compute_us"] for run in values])  # KServe ModelStatistics
        rows.append(
            {
                "model": model,
                "target": target,
                "load": load,
                "rounds": len(values),
                "inferences_per_s": statistics.median(throughputs),
                "inferences_per_s_range": [min(throughputs), max(throughputs)],
                "answers_per_round": statistics.median(run["requests"] for run in values),
                "p50_ms": statistics.median(run["p50_latency_us"] for run in values) / 1e3,
                "p99_ms": None if p99 is None else p99 / 1e3,
                "errors": sum(run["errors"] for run in values),
                "delayed_share": median_or_none([run["delayed_share"] for run in values]),
                "server_cpu_ms_per_request": statistics.median(run["server_cpu_ms_per_request"] for run in values),
                "server_compute_ms_per_request": None if compute is None else compute / 1e3,
            }
        )
    peers = {row["load"]: row for row in rows if row["target"] == TRITON}
    for row in rows:
        peer = peers.get(row["load"])
        if peer and row["target"] != TRITON:
            row["throughput_vs_triton"] = row["inferences_per_s"] / peer["inferences_per_s"]
            if row["p99_ms"] is not None and peer["p99_ms"] is not None:
                row["p99_vs_triton"] = row["p99_ms"] / peer["p99_ms"]
    return rows


def line(row: dict) -> str:
    low, high = row["inferences_per_s_range"]
    p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.2f}"
    compute = "" if row["server_compute_ms_per_request"] is None else f" (compute {row['server_compute_ms_per_request']:.2f})"
    ratios = ""
    if "throughput_vs_triton" in row:
        ratios = f"  x{row['throughput_vs_triton']:.2f} throughput"
        ratios += f", p99 x{row['p99_vs_triton']:.2f}" if "p99_vs_triton" in row else ""
        ratios += " of Triton's"
    return (
        f"{row['model']:10s} {row['load']:>14} {row['target']:24s} {row['inferences_per_s']:7.1f}/s "
        f"({low:.0f}-{high:.0f})  p50 {row['p50_ms']:6.2f} ms  p99 {p99:>6} ms  "
        f"server CPU {row['server_cpu_ms_per_request']:.2f} ms/req{compute}  errors {row['errors']}{ratios}"
    )


def markdown(rows: list[dict]) -> str:
    """One line per model and load: each target's throughput and p99, and KServe's ratios against Triton."""
    targets = list(dict.fromkeys(row["target"] for row in rows))
    lines = [
        "| model | load | " + " | ".join(targets) + " | aib KServe vs Triton |",
        "| --- | --- | " + " | ".join("---" for _ in targets) + " | --- |",
    ]
    for model, load in dict.fromkeys((row["model"], row["load"]) for row in rows):
        cells, ratio = [], "-"
        for target in targets:
            (row,) = [r for r in rows if (r["model"], r["load"], r["target"]) == (model, load, target)]
            p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.1f}"
            cells.append(f"{row['inferences_per_s']:.0f}/s, p99 {p99} ms")
            if target == "aib serve KServe v2" and "throughput_vs_triton" in row:
                ratio = f"x{row['throughput_vs_triton']:.2f}"
                ratio += f", p99 x{row['p99_vs_triton']:.2f}" if "p99_vs_triton" in row else ", p99 -"
        lines.append(f"| {model} | {load} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=sorted(WINDOW_MS), default=["demo", "vgg_cifar"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument(
        "--rate-shares", type=float, nargs="*", default=[0.5, 0.8, 0.95], help="open-loop rates, shares of Triton's saturation"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every target; medians are printed")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    reason = triton_unavailable()
    print(f"CPU: {cpu_name()}, {len(os.sched_getaffinity(0))} cores; triton: {reason or 'available'}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for model_name, path in models(folder, args.models).items():
            options = PerfOptions(window_ms=WINDOW_MS[model_name], max_trials=6)
            server = ServerProcess(path, "--threads", "2")
            triton_server = None
            try:
                targets = {
                    "aib serve KServe v2": (
                        connect(server.address, "kserve", None, "images", None, None, 30),
                        server.process.pid,
                    ),
                    "aib serve aib.v1": (connect(server.address, "aib", None, "images", None, None, 30), server.process.pid),
                }
                if reason is None:
                    repository = folder / f"repository_{model_name}"
                    name = python_repository(path, repository)
                    triton_server = TritonServer(repository).start()
                    triton_client = connect(triton_server.grpc_url, "kserve", name, "images", None, None, 30)
                    targets[TRITON] = (triton_client, triton_server.pid)
                print(f"{model_name}: closed loop", flush=True)
                runs = sweep(targets, [{"concurrency": c} for c in args.concurrency], args.rounds, options)
                closed = summarised(model_name, runs)
                if reason is None and args.rate_shares:
                    saturation = max(row["inferences_per_s"] for row in closed if row["target"] == TRITON)
                    rates = [share * saturation for share in args.rate_shares]
                    print(f"{model_name}: open loop at {', '.join(f'{r:.0f}' for r in rates)} req/s", flush=True)
                    runs.update(sweep(targets, [{"rate": rate} for rate in rates], args.rounds, options))
            finally:
                server.stop()
                if triton_server is not None:
                    triton_server.stop()
            model_rows = summarised(model_name, runs)
            for row in model_rows:
                print(line(row), flush=True)
            rows += model_rows
    table = markdown(rows)
    print(table)
    if args.json:
        args.json.write_text(
            json.dumps({"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "rows": rows}, indent=1) + "\n"
        )
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    cv2.setNumThreads(1)
    main()

"""In-process predictor against the gRPC server, measured side by side in one run.

    .venv/bin/python benchmarks/streaming.py [--frames 2000] [--soak 10000]
    .venv/bin/python benchmarks/streaming.py --scale [--scale-frames 12]

Demo model (default):
1. in-process: Predictor.predict_one on each frame, one after another, in this process;
2. one stream to `aib serve` in its own process on loopback, window 1 (latency) and 8 (throughput);
3. 8 concurrent streams, server micro-batching off (--max-batch 1) and on (--max-batch 8);
4. load: 8 streams x 200 frames, then a --soak stream; frames sent, answered, errors, and the
   server's resident memory before and after.
CPU time per frame is read from /proc for both processes, so the cost of the transport shows.
Frames are the demo's synthetic 256x256 images sent raw, so JPEG costs are not counted.

--memory: 4 streams of 30 MB raw frames (8 each, 8 in flight per stream) against the server's byte
budget: its peak resident memory (VmHWM) and what it holds once the streams are over.

--scale: CUB-VGG16-qt (224x224, fresh weights) with 1080p JPEG frames, 8 streams, the server at
`--instances 1 --threads 2` and `--instances 2 --threads 1`, against in-process inference on the
same decoded frames.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aib_deploy.demo.run import export_demo_model
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import RunnerOptions, load_predictor
from aib_deploy.serving.client import FrameStreamer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    fps: float
    p50_ms: float
    client_cpu_ms: float  # per frame
    server_cpu_ms: float = float("nan")
    p99_ms: float = float("nan")
    sent: int = 0
    answered: int = 0
    errors: int = 0


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class ServerProcess:
    """`aib serve MODEL --port 0 ...` in its own process; the address comes from its banner."""

    def __init__(self, model: Path, *flags: str) -> None:
        # Started outside the checkout: there `-m aib_deploy` would import the source folder, whose export/ and
        # serving/ live beside it, instead of the installed package.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aib_deploy", "serve", str(Path(model).resolve()), "--port", "0", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        banner = self.process.stdout.readline()
        match = re.search(r"listening on (\S+:\d+)", banner)
        if match is None:
            self.process.kill()
            rest = self.process.communicate(timeout=30)[0]
            raise SystemExit(f"aib serve did not start: {banner.strip()}\n{rest[-4000:]}")
        self.address = match.group(1)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def in_process(predictor, frames: list[np.ndarray]) -> Row:
    latencies = []
    cpu, started = own_cpu_s(), time.perf_counter()
    for frame in frames:
        t = time.perf_counter()
        predictor.predict_one(frame)
        latencies.append((time.perf_counter() - t) * 1e3)
    elapsed = time.perf_counter() - started
    return Row(len(frames) / elapsed, statistics.median(latencies), (own_cpu_s() - cpu) / len(frames) * 1e3)


def streamed(server: ServerProcess, frames: list[np.ndarray], streams: int, window: int, raw: bool = True) -> Row:
    latencies: list[float] = []
    totals = {"sent": 0, "answered": 0, "errors": 0}
    lock = threading.Lock()

    def one(name: str) -> None:
        def on_result(image, result, latency):
            with lock:
                latencies.append(latency)

        stats = FrameStreamer(server.address, window=window, raw=raw, stream_id=name).run(enumerate(frames), on_result)
        with lock:
            for key in totals:
                totals[key] += getattr(stats, key)

    threads = [threading.Thread(target=one, args=(f"s{i}",)) for i in range(streams)]
    cpu, server_cpu, started = own_cpu_s(), process_cpu_s(server.process.pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = streams * len(frames)
    return Row(
        total / elapsed,
        statistics.median(latencies) if latencies else float("nan"),  # nothing answered: no latency, not a crash
        (own_cpu_s() - cpu) / total * 1e3,
        (process_cpu_s(server.process.pid) - server_cpu) / total * 1e3,
        float(np.percentile(latencies, 99)) if latencies else float("nan"),
        **totals,
    )


def print_rows(rows: dict[str, Row]) -> None:
    print(f"{'':<30}{'frames/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'client CPU ms/frame':>21}{'server CPU ms/frame':>21}")
    for name, row in rows.items():
        print(
            f"{name:<30}{row.fps:>10.1f}{row.p50_ms:>9.3f}{row.p99_ms:>9.3f}{row.client_cpu_ms:>21.3f}{row.server_cpu_ms:>21.3f}"
        )


def process_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(budget_mb: int) -> None:
    """Large raw frames from 4 streams: the byte budget bounds the server's peak memory."""
    out = Path("/tmp/aib-streaming-bench")
    out.mkdir(exist_ok=True)
    model = export_demo_model(out)
    side = 3162  # 3162 x 3162 x 3 bytes: 30 MB, under the 32 MB message limit
    frame = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    flags = ("--max-pixels", str(side * side), "--max-inflight-mb", str(budget_mb))
    with ServerProcess(model, *flags) as server:
        idle = process_rss_mb(server.process.pid)
        row = streamed(server, [frame] * 8, 4, 8)
        time.sleep(1.5)  # the budget trims freed memory once nothing is in flight
        print(
            f"--max-inflight-mb {budget_mb}: 4 streams x 8 frames of 30 MB: sent {row.sent}, answered {row.answered}, "
            f"errors {row.errors}; server RSS idle {idle:.0f} MB, peak {process_peak_mb(server.process.pid):.0f} MB, "
            f"after the streams {process_rss_mb(server.process.pid):.0f} MB"
        )


def scale(frames_per_stream: int) -> None:
    """CUB-VGG16 at 224x224 from 1080p JPEG frames: server instances 1 and 2 against in-process inference."""
    import cv2

    from aib_deploy.bench.suite import SUITE_MODELS, fresh_checkpoint
    from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint

    out = Path("/tmp/aib-streaming-bench")
    out.mkdir(exist_ok=True)
    model = out / "cub_vgg16_qt.onnx"
    export_checkpoint(fresh_checkpoint(SUITE_MODELS["cub_vgg16"], out, "cub_vgg16_qt"), model, OnnxExportOptions())
    images, _, _ = make_dataset(8, 256, seed=5)
    frames = [cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_LINEAR) for image in images]
    with load_predictor(model, RunnerOptions(threads=2)) as predictor:
        in_process(predictor, frames[:2])
        rows = {"in-process, 2 threads": in_process(predictor, frames * 2)}
    for instances, threads in ((1, 2), (2, 1)):
        flags = ("--instances", str(instances), "--threads", str(threads), "--max-pixels", str(1920 * 1080))
        with ServerProcess(model, *flags) as server:
            streamed(server, frames[:2], 1, 2, raw=False)
            clip = [frames[i % len(frames)] for i in range(frames_per_stream)]
            rows[f"8 streams, {instances} inst x {threads} thr"] = streamed(server, clip, 8, 4, raw=False)
    print_rows(rows)
    local = rows["in-process, 2 threads"].fps
    for name, row in list(rows.items())[1:]:
        print(
            f"{name}: {row.fps / local:.2f} of in-process frames/s; sent {row.sent}, answered {row.answered}, errors {row.errors}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--soak", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, in-process and in the server")
    parser.add_argument("--scale", action="store_true", help="the CUB-VGG16 1080p JPEG run instead")
    parser.add_argument("--scale-frames", type=int, default=12, help="--scale: frames per stream")
    parser.add_argument(
        "--memory",
        type=int,
        nargs="*",
        metavar="MB",
        help="the 30 MB-frame run instead, at these --max-inflight-mb budgets (default: 256)",
    )
    args = parser.parse_args()
    if args.memory is not None:
        for budget in args.memory or [256]:
            memory(budget)
        return
    if args.scale:
        scale(args.scale_frames)
        return
    out = Path("/tmp/aib-streaming-bench")
    out.mkdir(exist_ok=True)
    model = export_demo_model(out)
    images, _, _ = make_dataset(64, 256, seed=5)
    frames = [images[i % len(images)] for i in range(args.frames)]
    with load_predictor(model, RunnerOptions(threads=args.threads)) as predictor:
        in_process(predictor, frames[:200])  # warm-up
        rows = {"in-process": in_process(predictor, frames)}
    threads = ("--threads", str(args.threads))
    with ServerProcess(model, "--max-batch", "8", *threads) as server:
        streamed(server, frames[:200], 1, 8)  # warm-up
        for window in (1, 8):
            rows[f"1 stream, window {window}"] = streamed(server, frames, 1, window)
        rows["8 streams, max batch 8"] = streamed(server, frames[: args.frames // 4], 8, 4)
        rss_before = process_rss_mb(server.process.pid)
        load = streamed(server, frames[:200], 8, 8)
        rss_load = process_rss_mb(server.process.pid)
        soak = streamed(server, [frames[i % len(frames)] for i in range(args.soak)], 1, 8)
        rss_after = process_rss_mb(server.process.pid)
    with ServerProcess(model, "--max-batch", "1", *threads) as server:
        streamed(server, frames[:200], 1, 8)
        rows["8 streams, max batch 1"] = streamed(server, frames[: args.frames // 4], 8, 4)

    print_rows(rows)
    local = rows["in-process"]
    print(f"single stream (window 8) / in-process frames/s: {rows['1 stream, window 8'].fps / local.fps:.2f}")
    print(f"added p50 latency, window 1: {rows['1 stream, window 1'].p50_ms - local.p50_ms:.3f} ms")
    batching = rows["8 streams, max batch 8"].fps / rows["8 streams, max batch 1"].fps
    print(f"8 streams, micro-batching on / off: {batching:.2f}x")
    print(
        f"load, 8 streams x 200: sent {load.sent}, answered {load.answered}, errors {load.errors}; "
        f"server RSS {rss_before:.1f} -> {rss_load:.1f} MB"
    )
    print(
        f"soak, 1 stream x {args.soak}: sent {soak.sent}, answered {soak.answered}, errors {soak.errors}; "
        f"server RSS {rss_load:.1f} -> {rss_after:.1f} MB ({rss_after - rss_before:+.1f} MB since before the load)"
    )


if __name__ == "__main__":
    main()

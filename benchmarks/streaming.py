"""In-process predictor against the gRPC server, measured side by side in one run.

    .venv/bin/python benchmarks/streaming.py [--frames 2000] [--soak 10000]

1. in-process: Predictor.predict_one on each frame, one after another;
2. one stream through the loopback server, window 1 (latency) and window 8 (throughput);
3. 8 concurrent streams, server micro-batching off (max batch 1) and on (max batch 8);
4. resident memory before and after --soak streamed frames (server and client share this process).
Frames are the demo's synthetic 256x256 images sent raw, so JPEG costs are not counted.
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from aib_deploy.demo import export_demo_model
from aib_deploy.runtime import load_predictor
from aib_deploy.serving.client import FrameStreamer
from aib_deploy.serving.server import BackgroundServer, ServerOptions
from aib_deploy.synthetic import make_dataset


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process(predictor, frames: list[np.ndarray]) -> tuple[float, float]:
    latencies = []
    started = time.perf_counter()
    for frame in frames:
        t = time.perf_counter()
        predictor.predict_one(frame)
        latencies.append((time.perf_counter() - t) * 1e3)
    return len(frames) / (time.perf_counter() - started), statistics.median(latencies)


def streamed(address: str, frames: list[np.ndarray], streams: int, window: int) -> tuple[float, float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(name: str) -> None:
        def on_result(image, result, latency):
            with lock:
                latencies.append(latency)

        FrameStreamer(address, window=window, raw=True, stream_id=name).run(enumerate(frames), on_result)

    threads = [threading.Thread(target=one, args=(f"s{i}",)) for i in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return streams * len(frames) / (time.perf_counter() - started), statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--soak", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    out = Path("/tmp/aib-streaming-bench")
    out.mkdir(exist_ok=True)
    model = export_demo_model(out)
    images, _, _ = make_dataset(64, 256, seed=5)
    frames = [images[i % len(images)] for i in range(args.frames)]
    predictor = load_predictor(model, threads=args.threads)
    in_process(predictor, frames[:200])  # warm-up
    fps_local, p50_local = in_process(predictor, frames)
    print(f"in-process          : {fps_local:8.1f} frames/s, p50 {p50_local:.3f} ms")
    rows = {}
    for max_batch in (1, 8):
        server = BackgroundServer(predictor, ServerOptions(port=0, max_batch=max_batch))
        try:
            if max_batch == 8:
                for window in (1, 8):
                    rows[f"1 stream, window {window}"] = streamed(server.address, frames, 1, window)
            rows[f"8 streams, max batch {max_batch}"] = streamed(server.address, frames[: args.frames // 4], 8, 4)
            if max_batch == 8:
                before = rss_mb()
                streamed(server.address, [frames[i % len(frames)] for i in range(args.soak)], 1, 8)
                after = rss_mb()
        finally:
            server.stop()
    for name, (fps, p50) in rows.items():
        print(f"{name:<20}: {fps:8.1f} frames/s, p50 {p50:.3f} ms end to end")
    one_fps, one_p50 = rows["1 stream, window 8"]
    print(f"single stream (window 8) / in-process fps: {one_fps / fps_local:.2f}")
    print(f"added p50 latency, window 1: {rows['1 stream, window 1'][1] - p50_local:.3f} ms")
    print(f"8 streams, micro-batching on / off: {rows['8 streams, max batch 8'][0] / rows['8 streams, max batch 1'][0]:.2f}x")
    print(f"RSS over {args.soak} streamed frames: {before:.1f} MB -> {after:.1f} MB ({after - before:+.1f} MB)")
    predictor.close()


if __name__ == "__main__":
    main()

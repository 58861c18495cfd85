"""`aib serve` (KServe v2 and aib.v1) against a real Triton Inference Server, side by side in one run.

    .venv/bin/python -m benchmarks.kserve_triton [--requests 2000] [--concurrency 1 8] [--models demo vgg_cifar]

For each model (the demo model, and VGG-CIFAR-qt with fresh weights) and each concurrency C, C client
threads send unary requests of one frame each, one after another, and every latency is recorded:
1. `aib serve` over KServe v2: `tritonclient.grpc` `infer` with a normalized FP32 `images` tensor;
2. `aib serve` over aib.v1: `Predict` with the raw 32x32 frame (the server normalizes it);
3. Triton (the `tritonserver` of the nvidia-pytriton wheel) with the repository `aib export triton
   --backend python` writes (ONNX Runtime inside Triton's Python backend, dynamic batching), driven
   by the same tritonclient code as 1.
Both servers run at once, in their own processes on loopback with 2 inference threads (`aib serve --threads 2`;
the Python-backend model's ONNX Runtime session likewise) and the same batching (at most 8 frames, 2 ms). The clients
share the machine with the server, as the figures in issue 13 did. Targets take turns in `--rounds`
rounds, each round in another order, so drift on a shared machine hits all alike. Prints the median
over rounds of requests/s, p50, p99 and the server's CPU time per request, and the ratios against Triton.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import grpc
import numpy as np
import tritonclient.grpc as triton

from aib_deploy.bench.suite import SUITE_MODELS, fresh_checkpoint
from aib_deploy.demo.run import export_demo_model
from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint
from aib_deploy.protocol.generated import attention_pb2 as pb
from aib_deploy.protocol.generated import attention_pb2_grpc as pb_grpc
from aib_deploy.runtime import load_predictor
from aib_deploy.serving.options import MICRO_BATCH
from tests.helpers.server import ServerProcess, raw
from tests.helpers.tritonserver import PYTHON_BACKEND_FLAGS, TritonServer, triton_unavailable

AIB = Path(sys.executable).with_name("aib")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARMUP = 50
TRITON = "Triton python backend"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


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


def drive(call: Callable[[], None], requests: int, concurrency: int, server_pid: int) -> dict:
    """`requests` calls from `concurrency` threads; requests/s over the whole run, p50/p99 in ms, and the
    server's CPU time per request (its process tree), which decides the throughput on a busy machine."""
    for _ in range(WARMUP):
        call()
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = requests // concurrency

    def worker() -> None:
        own = []
        for _ in range(per_thread):
            started = time.perf_counter()
            call()
            own.append((time.perf_counter() - started) * 1e3)
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu_before = tree_cpu_s(server_pid)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    server_ms = (tree_cpu_s(server_pid) - cpu_before) * 1e3 / len(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "server_cpu_ms_per_request": server_ms,
    }


def kserve_call(url: str, model: str, tensor: np.ndarray) -> Callable[[], None]:
    client = triton.InferenceServerClient(url)
    request = triton.InferInput("images", list(tensor.shape), "FP32")
    request.set_data_from_numpy(tensor)

    def call() -> None:
        client.infer(model, [request]).as_numpy("logits")

    return call


def aib_v1_call(address: str, frame: np.ndarray) -> Callable[[], None]:
    stub = pb_grpc.AttentionServiceStub(grpc.insecure_channel(address))
    message = pb.Frame(raw=raw(frame))

    def call() -> None:
        if stub.Predict(message, timeout=30).error:
            raise RuntimeError("aib.v1 answered with an error")

    return call


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per target, concurrency and round (VGG-CIFAR, 60x slower: an eighth)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--models", nargs="+", choices=["demo", "vgg_cifar"], default=["demo", "vgg_cifar"])
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every target; medians are printed")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    reason = triton_unavailable()
    print(f"CPU: {cpu_name()}, {len(os.sched_getaffinity(0))} cores; triton: {reason or 'available'}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for model_name, path in models(folder, args.models).items():
            predictor = load_predictor(path)
            size = predictor.card.input_size
            frame = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
            tensor = predictor.preprocessor.batch([frame])
            served_name = predictor.card.serving_name(predictor.runner.precision)
            predictor.close()
            server = ServerProcess(path, "--threads", "2")
            calls = {
                "aib serve KServe v2": (kserve_call(server.address, served_name, tensor), server.process.pid),
                "aib serve aib.v1": (aib_v1_call(server.address, frame), server.process.pid),
            }
            triton_server = None
            if reason is None:
                repository = folder / f"repository_{model_name}"
                name = python_repository(path, repository)
                triton_server = TritonServer(repository).start()
                calls[TRITON] = (kserve_call(triton_server.grpc_url, name, tensor), triton_server.pid)
            runs: dict[tuple[str, int], list[dict]] = {}
            try:
                for round_number in range(args.rounds):  # each round in another order: drift hits every target alike
                    order = list(calls)[round_number % len(calls) :] + list(calls)[: round_number % len(calls)]
                    for concurrency in args.concurrency:
                        for target in order:
                            call, pid = calls[target]
                            requests = args.requests if model_name == "demo" else args.requests // 8
                            runs.setdefault((target, concurrency), []).append(drive(call, requests, concurrency, pid))
            finally:
                server.stop()
                if triton_server is not None:
                    triton_server.stop()
            results = {
                key: {figure: statistics.median(run[figure] for run in values) for figure in values[0]}
                for key, values in runs.items()
            }
            for (target, concurrency), figures in results.items():
                peer = results.get((TRITON, concurrency))
                row = {"model": model_name, "target": target, "concurrency": concurrency, **figures}
                if peer and target != TRITON:
                    row["rps_vs_triton"] = figures["rps"] / peer["rps"]
                    row["p99_vs_triton"] = figures["p99_ms"] / peer["p99_ms"]
                rows.append(row)
                ratios = (
                    f"  x{row['rps_vs_triton']:.2f} rps, p99 x{row['p99_vs_triton']:.2f} of Triton's"
                    if "rps_vs_triton" in row
                    else ""
                )
                print(
                    f"{model_name:10s} c={concurrency}  {target:24s} {figures['rps']:7.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms  "
                    f"server CPU {figures['server_cpu_ms_per_request']:.2f} ms/req{ratios}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    cv2.setNumThreads(1)
    main()

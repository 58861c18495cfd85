"""The GPU suite: PyTorch CUDA backends on the paper's architectures, and `aib serve` on the GPU, in one run.

    bash scripts/gpu_suite.sh OUT_DIR [--dry-run] [--budget-s SECONDS]

Models: CUB-VGG16-qt and CUB-WRN-50-2-qt at 224 and VGG-CIFAR-10-qt at 32 with fresh weights in the paper's
layout, and the trained demo model. Backends, all PyTorch on CUDA: fp32 with TF32 off, TF32, fp16 with the
snap in float32 (as `aib export fp16` writes it), fp16 + CUDA graphs, and `torch.compile` in fp16 without and
with CUDA graphs. Batches 1, 8, 32 and 128. A row: p50/p99 of one call from host input to host outputs,
images/s, peak GPU memory, and top-1 and anchor-index agreement against ONNX Runtime fp32 on the CPU on the
same frames (synthetic scenes). Serving: `aib serve` on the GPU, 8 streams of 1080p JPEG frames, against
in-process inference on the same frames (decoded by as many threads, batched as the server batches).
A model or backend that fails is a row of its reason, and the run goes on; rows left when --budget-s is
spent are listed as skipped. Writes gpu_suite.json, gpu_suite.md and gpu_suite_latency.png to OUT_DIR.

--dry-run runs the same code on the CPU at tiny sizes (a test runs it): the CUDA-only backends there
become rows of the reason they cannot run, and torch.compile is left out (a minute of C++ compilation).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from streaming import ServerProcess, own_cpu_s  # benchmarks/streaming.py, beside this file
from streaming import streamed as streaming_run

from aib_deploy.backends.pytorch import TorchRunner
from aib_deploy.bench.environment import environment
from aib_deploy.bench.measure import percentile
from aib_deploy.bench.plot import plot_latency
from aib_deploy.bench.suite import SUITE_MODELS, fresh_checkpoint
from aib_deploy.card.architecture import Architecture
from aib_deploy.demo.run import bundled_checkpoint
from aib_deploy.media.image_size import decode_wire_image
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import RunnerOptions, load_predictor
from aib_deploy.runtime.compare import agreement_of, run_all
from aib_deploy.runtime.predictor import Normalized
from aib_deploy.runtime.preprocess import Preprocessor
from aib_deploy.timing import time_calls

MODELS = {
    "cub_vgg16_qt": SUITE_MODELS["cub_vgg16"],
    "vgg_cifar10_qt": SUITE_MODELS["vgg_cifar"],
    "demo": None,  # the bundled trained checkpoint
    "cub_wrn50_2_qt": Architecture("cub", num_classes=200, K=256, quantized=True, qt_num=20, backbone="wrn_50_2"),
}
# Each backend: its row label and TorchRunner's keyword arguments.
BACKENDS = {
    "fp32 (TF32 off)": {"precision": "fp32"},
    "tf32": {"precision": "tf32"},
    "fp16": {"precision": "fp16"},
    "fp16 + CUDA graphs": {"precision": "fp16", "cuda_graphs": True},
    "fp16 torch.compile": {"precision": "fp16", "compile_mode": "default"},
    "fp16 torch.compile + CUDA graphs": {"precision": "fp16", "compile_mode": "default", "cuda_graphs": True},
}
# The server's backend, as `aib serve` flags take it (the CPU's for --dry-run).
SERVING_OPTIONS = {"cuda": {"precision": "fp16", "cuda_graphs": True}, "cpu": {}}
SERVING_BATCH = 8
FRAME_SIZE = (1920, 1080)
TARGETS = (
    ("CUB-VGG16-qt fp16 + CUDA graphs at batch 1 >= 5x PyTorch eager fp32 at batch 1", 5.0),
    ("best backend at batch 128 >= 10,000 images/s", 10_000.0),
    ("serving, 8 streams >= 90 % of in-process frames/s", 0.9),
)


@dataclass(frozen=True)
class Plan:
    """What one run measures; --dry-run shrinks it to seconds on a CPU."""

    device: str = "cuda"
    models: tuple[str, ...] = tuple(MODELS)
    backends: tuple[str, ...] = tuple(BACKENDS)
    batches: tuple[int, ...] = (1, 8, 32, 128)
    runs: int = 100
    warmup: int = 10
    agreement_frames: int = 64
    streams: int = 8
    frames_per_stream: int = 150
    decode_threads: int = 12  # in-process, and the server's unless a variant sets its own
    # One server run each, flags over the suite's own: the decode memory holds ten 1080p frames by default.
    server_variants: tuple[dict[str, str], ...] = (
        {},
        {"decode-memory-mb": "128"},
        {"decode-threads": "16", "decode-memory-mb": "128"},
    )
    serving_model: str = "cub_vgg16_qt"
    budget_s: float = 420.0  # models and backends started after this are skipped; serving runs regardless


DRY_RUN = Plan(
    device="cpu",
    models=("demo",),
    backends=("fp32 (TF32 off)", "tf32", "fp16", "fp16 + CUDA graphs"),
    batches=(1, 2),
    runs=3,
    warmup=1,
    agreement_frames=4,
    streams=2,
    frames_per_stream=3,
    decode_threads=2,
    server_variants=({},),
    serving_model="demo",
)


def machine() -> dict:
    """The machine every row was measured on: GPU, driver, torch and CUDA, beside the CPU and libraries."""
    import torch

    info = environment()
    info["torch_cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        try:
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            info["driver"] = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            info["driver"] = f"unknown ({error})"
    return info


def reason(error: Exception) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def checkpoint_for(name: str, folder: Path) -> Path:
    return bundled_checkpoint() if MODELS[name] is None else fresh_checkpoint(MODELS[name], folder, name)


def reference_outputs(checkpoint: Path, folder: Path, plan: Plan) -> tuple[np.ndarray, dict, object, str]:
    """The suite's frames for this model (synthetic scenes at its size, normalized by its card), and the
    reference outputs on them: ONNX Runtime fp32 on the CPU, exported from the same checkpoint; where the
    export fails on that machine's libraries, PyTorch fp32 on the CPU (which the export matches bit for bit),
    and the row says so."""
    from aib_deploy.backends.onnxrt import OnnxrtRunner
    from aib_deploy.export.onnx_export import OnnxExportOptions, export_checkpoint

    onnx_path = folder / f"{checkpoint.stem}.onnx"
    try:
        export_checkpoint(checkpoint, onnx_path, OnnxExportOptions(max_batch=max(*plan.batches, plan.agreement_frames)))
        runner, name = OnnxrtRunner(onnx_path, device="cpu"), "onnxruntime-cpu fp32"
    except Exception as error:  # noqa: BLE001 - the agreement still has a float32 reference
        print(f"  ONNX export failed ({reason(error)}); the reference is PyTorch fp32 on the CPU", flush=True)
        runner, name = TorchRunner(checkpoint, device="cpu"), f"pytorch-cpu fp32 (ONNX export failed: {reason(error)})"
    with runner:
        card = runner.card
        scenes, _, _ = make_dataset(plan.agreement_frames, card.input_size, seed=23)
        frames = Preprocessor(card.input_size, card.mean, card.std).batch(list(scenes))
        return frames, run_all(runner, frames), card, name


def time_backend(runner: TorchRunner, frames: np.ndarray, batch: int, plan: Plan) -> dict:
    """p50/p99 of one call at this batch (the frames repeated to fill it) and the peak GPU memory it took."""
    import torch

    images = np.ascontiguousarray(np.resize(frames, (batch, *frames.shape[1:])))
    if runner.on_gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timings = time_calls(lambda: runner.infer(images), plan.warmup, plan.runs)
    median = statistics.median(timings)
    copy_ms = None
    if runner.on_gpu:  # what the input alone costs to reach the GPU from ordinary (pageable) host memory
        copies = time_calls(lambda: torch.from_numpy(images).to("cuda").sum().item(), 2, 10)
        copy_ms = statistics.median(copies)
    return {
        "batch": batch,
        "runs": plan.runs,
        "median_ms": median,
        "p99_ms": percentile(timings, 99),
        "images_per_s": batch * 1e3 / median,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if runner.on_gpu else None,
        "pageable_copy_ms": copy_ms,
    }


def measure_backend(checkpoint: Path, model: str, backend: str, frames, reference, card, plan: Plan) -> list[dict]:
    """One backend's rows at every batch; a backend that cannot run here is one row of its reason."""
    import torch

    base = {"model": model, "backend": backend}
    runner = TorchRunner(checkpoint, device=plan.device, **BACKENDS[backend])
    try:
        started = time.perf_counter()
        runner.activate()
        agreement = agreement_of(reference, run_all(runner, frames), card.anchors)
        first_call_s = time.perf_counter() - started  # loading, compiling and capturing, on the agreement frames
        quality = {"top1_agreement": agreement.top1, "index_agreement": agreement.index_exact, "first_call_s": first_call_s}
        return [{**base, **time_backend(runner, frames, batch, plan), **quality} for batch in plan.batches]
    except Exception as error:  # noqa: BLE001 - one backend's failure is its row; the suite goes on
        print(f"  {backend}: not measured: {reason(error)}", flush=True)
        return [{**base, "error": reason(error)}]
    finally:
        runner.deactivate()
        torch._dynamo.reset()  # TorchDynamo keys its compilations on the method's code: each model would add some
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def encoded_frames(count: int, size: tuple[int, int]) -> list[bytes]:
    """Synthetic scenes enlarged to `size` and encoded as JPEG once, so no client spends CPU encoding."""
    scenes, _, _ = make_dataset(count, 256, seed=5)
    return [cv2.imencode(".jpg", cv2.resize(scene, size), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for scene in scenes]


def in_process(checkpoint: Path, jpegs: list[bytes], plan: Plan) -> dict:
    """The server's work without the server: threads decode (with the server's own checks) and preprocess ahead
    while the model runs batches of SERVING_BATCH, as the server's pipeline does."""
    options = RunnerOptions(device=plan.device, **SERVING_OPTIONS[plan.device])
    threads = plan.decode_threads
    with load_predictor(checkpoint, options) as predictor, concurrent.futures.ThreadPoolExecutor(threads) as pool:

        def prepare(data: bytes) -> Normalized:
            return Normalized(predictor.preprocessor.frame(decode_wire_image(data, FRAME_SIZE[0] * FRAME_SIZE[1])))

        predictor.predict([prepare(data) for data in jpegs[:SERVING_BATCH]])  # warm-up: load, capture
        cpu, started, batch = own_cpu_s(), time.perf_counter(), []
        for frame in pool.map(prepare, jpegs):
            batch.append(frame)
            if len(batch) == SERVING_BATCH:
                predictor.predict(batch)
                batch = []
        if batch:
            predictor.predict(batch)
        elapsed = time.perf_counter() - started
    cpu_ms = (own_cpu_s() - cpu) / len(jpegs) * 1e3
    return {"frames": len(jpegs), "decode_threads": threads, "frames_per_s": len(jpegs) / elapsed, "cpu_ms_per_frame": cpu_ms}


def streamed(server: ServerProcess, jpegs: list[bytes], streams: int) -> dict:
    """`streams` aib.v1 streams of the same JPEG frames at once, window 4 each (benchmarks/streaming.py's
    measurement), as the suite's JSON names its figures."""
    row = streaming_run(server, jpegs, streams, window=4)
    return {
        "frames": streams * len(jpegs),
        "frames_per_s": row.fps,
        "p50_ms": None if math.isnan(row.p50_ms) else row.p50_ms,
        "p99_ms": None if math.isnan(row.p99_ms) else row.p99_ms,
        "server_cpu_ms_per_frame": row.server_cpu_ms,
        "client_cpu_ms_per_frame": row.client_cpu_ms,
        "sent": row.sent,
        "answered": row.answered,
        "errors": row.errors,
    }


def server_flags(plan: Plan, variant: dict[str, str]) -> list[str]:
    """`aib serve` flags: the suite's own, with the variant's in their place."""
    options = {"device": plan.device, "max-batch": str(SERVING_BATCH), "decode-threads": str(plan.decode_threads)}
    options |= {"max-pixels": str(FRAME_SIZE[0] * FRAME_SIZE[1]), "max-streams": str(max(plan.streams, 8))}
    options |= {flag.replace("_", "-"): value for flag, value in SERVING_OPTIONS[plan.device].items()}
    flags = []
    for flag, value in (options | variant).items():
        flags += [f"--{flag}"] + ([] if value is True else [value])
    return flags


def serving(checkpoint: Path, plan: Plan) -> dict:
    """`aib serve` on the GPU backend with 8 streams of 1080p JPEG frames, once per server variant, and
    in-process inference on the same frames."""
    jpegs = encoded_frames(plan.frames_per_stream, FRAME_SIZE)
    local = in_process(checkpoint, jpegs * plan.streams, plan)
    runs = []
    for variant in plan.server_variants:
        flags = server_flags(plan, variant)
        with ServerProcess(checkpoint, *flags) as server:
            streamed(server, jpegs[:SERVING_BATCH], 2)  # warm-up: capture the graphs
            served = streamed(server, jpegs, plan.streams)
        runs.append({"flags": flags, **served, "ratio_to_in_process": served["frames_per_s"] / local["frames_per_s"]})
    return {"model": plan.serving_model, "streams": plan.streams, "in_process": local, "runs": runs}


def measure_models(plan: Plan, folder: Path, started: float) -> tuple[list[dict], dict[str, Path]]:
    """Every model on every backend, the order of MODELS; what is left when the budget is spent is skipped."""
    rows: list[dict] = []
    checkpoints: dict[str, Path] = {}
    for model in plan.models:
        if time.perf_counter() - started > plan.budget_s:
            rows.append({"model": model, "backend": "all", "error": f"skipped: the {plan.budget_s:g} s budget was spent"})
            continue
        print(f"{model}: checkpoint, ONNX export and the ONNX Runtime fp32 reference on the CPU", flush=True)
        try:
            checkpoints[model] = checkpoint_for(model, folder)
            frames, reference, card, reference_name = reference_outputs(checkpoints[model], folder, plan)
        except Exception as error:  # noqa: BLE001 - one model's failure is its row; the suite goes on
            rows.append({"model": model, "backend": "all", "error": reason(error)})
            continue
        for backend in plan.backends:
            if time.perf_counter() - started > plan.budget_s:
                rows.append({"model": model, "backend": backend, "error": f"skipped: the {plan.budget_s:g} s budget was spent"})
                continue
            print(f"  {backend}", flush=True)
            measured = measure_backend(checkpoints[model], model, backend, frames, reference, card, plan)
            rows += [{**row, "reference": reference_name} for row in measured]
    return rows, checkpoints


def targets(rows: list[dict], served: dict | None) -> list[dict]:
    """The issue's three targets, each with its measured figure and whether it is met."""
    timed = [row for row in rows if "error" not in row]

    def median(model: str, backend: str, batch: int) -> float | None:
        found = [r["median_ms"] for r in timed if (r["model"], r["backend"], r["batch"]) == (model, backend, batch)]
        return found[0] if found else None

    eager, graphs = median("cub_vgg16_qt", "fp32 (TF32 off)", 1), median("cub_vgg16_qt", "fp16 + CUDA graphs", 1)
    at_128 = [r for r in timed if r["batch"] == 128]
    best = max(at_128, key=lambda r: r["images_per_s"], default=None)
    figures = [
        (eager / graphs, "speed-up") if eager and graphs else (None, "not measured"),
        (best["images_per_s"], f"{best['model']}, {best['backend']}") if best else (None, "not measured"),
        serving_figure(served),
    ]
    return [
        {
            "target": text,
            "threshold": threshold,
            "measured": value,
            "what": what,
            "met": None if value is None else value >= threshold,
        }
        for (text, threshold), (value, what) in zip(TARGETS, figures)
    ]


def serving_figure(served: dict | None) -> tuple[float | None, str]:
    """The best server run's share of in-process frames/s, and its flags."""
    runs = (served or {}).get("runs") or []
    if not runs:
        return None, "not measured"
    best = max(runs, key=lambda run: run["ratio_to_in_process"])
    return best["ratio_to_in_process"], f"of in-process frames/s, aib serve {' '.join(best['flags'])}"


def cell(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(result: dict) -> str:
    """The rows, the serving figures and the targets as one markdown page."""
    env = result["machine"]
    lines = [
        f"# GPU suite, {result['date']}",
        "",
        f"{env.get('gpu', 'no GPU')} (driver {env.get('driver', '-')}), torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), "
        f"{env.get('cpus')} x {env.get('cpu')}; plan: {result['plan']['device']}, batches {result['plan']['batches']}, "
        f"{result['plan']['runs']} timed runs per row.",
        "",
        "| model | backend | batch | p50 ms | p99 ms | images/s | peak GPU MiB | top-1 agr | index agr |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["rows"]:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['backend']} | - | {row['error']} | | | | | |")
            continue
        lines.append(
            f"| {row['model']} | {row['backend']} | {row['batch']} | {cell(row['median_ms'])} | {cell(row['p99_ms'])} | "
            f"{row['images_per_s']:.0f} | {cell(row['peak_gpu_mib'], 0)} | {cell(row['top1_agreement'], 4)} | "
            f"{cell(row['index_agreement'], 4)} |"
        )
    references = {row["model"]: row["reference"] for row in result["rows"] if "reference" in row}
    lines += ["", "Agreement is against " + "; ".join(f"{model}: {name}" for model, name in references.items()) + "."]
    served = result.get("serving") or {}
    lines += ["", "## Serving", ""]
    if "runs" not in served:
        lines.append(f"not measured: {served.get('error', 'not run')}")
    else:
        local = served["in_process"]
        lines.append(
            f"{served['model']}, {served['streams']} streams of 1080p JPEG frames. In-process ({local['decode_threads']} "
            f"decode threads, batches of {SERVING_BATCH}): {local['frames_per_s']:.1f} frames/s, "
            f"{local['cpu_ms_per_frame']:.2f} ms CPU per frame."
        )
        lines += [
            "",
            "| aib serve flags | frames/s | p50 ms | p99 ms | server CPU ms/frame | client CPU ms/frame | errors | of in-process |",
        ]
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for run in served["runs"]:
            lines.append(
                f"| `{' '.join(run['flags'])}` | {run['frames_per_s']:.1f} | {cell(run['p50_ms'])} | {cell(run['p99_ms'])} | "
                f"{run['server_cpu_ms_per_frame']:.2f} | {run['client_cpu_ms_per_frame']:.2f} | {run['errors']} | "
                f"{run['ratio_to_in_process']:.2f} |"
            )
    lines += ["", "## Targets", ""]
    for target in result["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        lines.append(f"- {target['target']}: {cell(target['measured'], 2)} ({target['what']}): **{verdict}**")
    return "\n".join(lines) + "\n"


def write(out: Path, result: dict) -> None:
    """gpu_suite.json, .md and the plot of what is measured so far (written again when serving is done, so a
    run stopped during serving keeps its rows)."""
    result["targets"] = targets(result["rows"], result.get("serving"))
    (out / "gpu_suite.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / "gpu_suite.md").write_text(markdown(result))
    timed = [row for row in result["rows"] if "error" not in row]
    if timed:
        plot_latency(timed, out / "gpu_suite_latency.png", title=result["machine"].get("gpu", "CPU (dry run)"))


def run(out: Path, plan: Plan) -> dict:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "plan": plan.__dict__}
    with tempfile.TemporaryDirectory(prefix="aib-gpu-suite-") as tmp:
        result["rows"], checkpoints = measure_models(plan, Path(tmp), started)
        write(out, result)
        print(f"serving: aib serve, {plan.streams} streams of 1080p JPEG frames", flush=True)
        try:
            model = plan.serving_model
            result["serving"] = serving(checkpoints.get(model) or checkpoint_for(model, Path(tmp)), plan)
        except (Exception, SystemExit) as error:  # noqa: BLE001 - reported in the results, not lost with the rows
            result["serving"] = {"error": reason(error), "detail": str(error)[-4000:]}
            print(str(error)[-4000:], flush=True)
    result["wall_s"] = time.perf_counter() - started
    write(out, result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for gpu_suite.json, gpu_suite.md and gpu_suite_latency.png")
    parser.add_argument("--dry-run", action="store_true", help="the same code on the CPU at tiny sizes")
    parser.add_argument("--models", nargs="*", choices=list(MODELS), help="a subset of the models (none: the serving run alone)")
    parser.add_argument(
        "--budget-s", type=float, help=f"seconds after which models and backends are skipped (default {Plan.budget_s:g})"
    )
    args = parser.parse_args()
    plan = DRY_RUN if args.dry_run else Plan()
    if args.budget_s is not None:
        plan = replace(plan, budget_s=args.budget_s)
    if args.models is not None:
        plan = replace(plan, models=tuple(args.models))
    if plan.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("gpu_suite: this PyTorch sees no CUDA device; run with --dry-run for the CPU rehearsal")
    result = run(args.out, plan)
    print((args.out / "gpu_suite.md").read_text())
    print(f"gpu_suite: {result['wall_s']:.0f} s; wrote {args.out}/gpu_suite.json, gpu_suite.md, gpu_suite_latency.png")


if __name__ == "__main__":
    main()

"""`aib demo`: the whole path on the bundled demo model, end to end.

Export the bundled checkpoint (a WRN-AIB-qt trained on synthetic glyphs) to
ONNX, draw a synthetic video with per-frame ground truth, serve the model on
loopback, stream every frame through the gRPC client, and score classes and
attention against the truth.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..localization import score_localization

DEMO_CHECKPOINT = "wrn_aib_qt_glyphs.pth"
DEMO_METRICS = "wrn_aib_qt_glyphs.metrics.json"
VIDEO_FRAMES = 300
VIDEO_SIZE = 256
VIDEO_SEED = 2021
# The targets the demo model is held to (README, issue 14): key of the summary -> least acceptable value.
SUMMARY_SCHEMA_VERSION = 1  # of summary.json, aib_deploy/data/summary.schema.json
TARGETS = {"accuracy": 0.95, "attention_max_in_box": 0.90, "attention_inside_outside_ratio": 1.5}


@dataclass(frozen=True)
class DemoOptions:
    output: Path = Path("demo-output")
    threads: int | None = None


def bundled_checkpoint() -> Path:
    return Path(str(resources.files("aib_deploy") / "data" / DEMO_CHECKPOINT))


def bundled_metrics() -> dict:
    """The figures scripts/train_demo_model.py measured on held-out images."""
    return json.loads((resources.files("aib_deploy") / "data" / DEMO_METRICS).read_text())


def export_demo_model(output: Path) -> Path:
    """The bundled checkpoint as ONNX, with the glyph labels and its measured figures in its card."""
    from ..export.onnx_export import OnnxExportOptions, check_onnx, export_checkpoint, report_parity

    path = output / "demo_model.onnx"
    options = OnnxExportOptions(extra={"evaluation": bundled_metrics()})  # the checkpoint names its dataset
    exported = export_checkpoint(bundled_checkpoint(), path, options)
    check_onnx(path)
    report_parity(path, exported.loaded.model, exported.card, label="export parity")
    return path


def summarize(predictions: list, truth, latencies_ms: list[float], elapsed_s: float) -> dict:
    answered = [p for p in predictions if p.ok]
    hits = [p.top_k[0].class_index == label for p, label in zip(predictions, truth.labels) if p.ok]
    maps = [p.attention for p in predictions if p.ok]
    boxes = [box.as_list() for p, box in zip(predictions, truth.boxes) if p.ok]
    scores = score_localization(maps, boxes, VIDEO_SIZE, VIDEO_SIZE)
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "frames_sent": len(predictions),
        "frames_answered": len(answered),
        "errors": len(predictions) - len(answered),
        "accuracy": float(np.mean(hits)) if hits else 0.0,
        **scores.to_dict(),
        "latency_ms_p50": statistics.median(latencies_ms),
        "latency_ms_p99": float(np.percentile(latencies_ms, 99)),
        "fps": len(predictions) / elapsed_s,
    }


def with_targets(summary: dict) -> dict:
    """The summary with, per targeted figure, its target and whether it was met."""
    return {**summary, "targets": {key: {"at_least": target, "met": summary[key] >= target} for key, target in TARGETS.items()}}


def run_demo(options: DemoOptions = DemoOptions()) -> dict:
    """Serve the exported model on loopback and stream the video through it, as `aib stream` does; return the summary."""
    from ..media.annotate import annotate
    from ..media.io import VideoReader, VideoWriter
    from ..media.synthetic import write_video
    from ..progress import Progress
    from ..protocol.aib_v1 import prediction_from_result
    from ..runtime import RunnerOptions, load_predictor
    from ..runtime.results_file import ResultsFile
    from ..serving.client import FrameStreamer
    from ..serving.options import ServerOptions
    from ..serving.server import BackgroundServer

    output = Path(options.output)
    output.mkdir(parents=True, exist_ok=True)
    model = export_demo_model(output)
    video = output / "demo_input.mp4"
    truth = write_video(video, VIDEO_FRAMES, VIDEO_SIZE, VIDEO_SEED)
    predictor = load_predictor(model, RunnerOptions(threads=options.threads, spinning=False))
    server = BackgroundServer([predictor], ServerOptions(port=0))
    print(f"serving {model.name} on {server.address}; streaming {video.name}")
    writer = VideoWriter(output / "demo_annotated.mp4", fps=15)
    predictions: dict[int, object] = {}
    latencies: list[float] = []
    progress = Progress(VIDEO_FRAMES)
    started = time.perf_counter()
    with ResultsFile(output / "results.jsonl", predictor.card, predictor.backend) as results:

        def on_result(image, result, latency_ms: float) -> None:
            prediction = prediction_from_result(result)
            predictions[result.frame_index] = prediction
            latencies.append(latency_ms)
            truth_record = {"class_index": truth.labels[result.frame_index], "box": truth.boxes[result.frame_index].as_list()}
            results.write(prediction, video.name, result.frame_index, latency_ms=latency_ms, truth=truth_record)
            if image is not None:
                # the true box, to judge the map by
                writer.write(annotate(image, prediction, fps=progress.rate, box=truth.boxes[result.frame_index].as_list()))
            progress.update()

        try:
            FrameStreamer(server.address, stream_id="demo").run(enumerate(VideoReader(video)), on_result)
        finally:
            elapsed = time.perf_counter() - started
            writer.close()
            progress.close()
            server.stop()
            predictor.close()
    ordered = [predictions[index] for index in sorted(predictions)]
    summary = with_targets(summarize(ordered, truth, latencies, elapsed))
    (output / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for key, value in summary.items():
        if key in ("targets", "schema_version"):
            continue
        target = summary["targets"].get(key)
        verdict = f"  (target >= {target['at_least']:g}: {'met' if target['met'] else 'MISSED'})" if target else ""
        print((f"{key:>32}: {value:.4g}" if isinstance(value, float) else f"{key:>32}: {value}") + verdict)
    print(f"wrote {output}/summary.json, demo_annotated.mp4, results.jsonl")
    return summary

"""`aib predict MODEL INPUT`: annotated image/video/folder plus JSON lines of results."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .annotate import annotate
from .errors import AibError
from .media import InputItem, VideoReader, input_kind, iter_images
from .progress import Progress
from .runtime import Prediction, load_predictor


def default_output(source: Path, kind: str) -> Path:
    if kind == "folder":
        return source.with_name(source.name + "_aib")
    suffix = ".mp4" if kind == "video" else ".png"
    return source.with_name(source.stem + "_aib" + suffix)


def result_record(item: InputItem, prediction: Prediction) -> dict:
    return {"input": item.name, "index": item.index, **prediction.to_dict()}


def run_predict(args: argparse.Namespace) -> None:
    from .cards import read_labels

    source = Path(args.input)
    kind = input_kind(source)
    output = Path(args.output) if args.output else default_output(source, kind)
    results_path = Path(args.results) if args.results else (
        output / "results.jsonl" if kind == "folder" else output.with_suffix(".jsonl")
    )  # fmt: skip
    predictor = load_predictor(args.model, backend=args.backend, device=args.device, threads=args.threads,
                               labels=read_labels(args.labels), top_k=args.top_k)  # fmt: skip
    if kind == "video":
        run_video(predictor, source, output, results_path)
    else:
        run_images(predictor, source, output, results_path, kind)
    print(f"wrote {output} and {results_path}")


def run_images(predictor, source: Path, output: Path, results_path: Path, kind: str) -> None:
    import cv2

    results_path.parent.mkdir(parents=True, exist_ok=True)
    errors = 0
    with open(results_path, "w", encoding="utf-8") as results:
        for item in iter_images(source):
            prediction = Prediction(error=item.error) if item.frame is None else predictor.predict_one(item.frame)
            results.write(json.dumps(result_record(item, prediction)) + "\n")
            if not prediction.ok:
                errors += 1
                print(f"aib: {item.name}: {prediction.error}")
                continue
            target = output / (Path(item.name).stem + "_aib.png") if kind == "folder" else output
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), annotate(item.frame, prediction)):
                raise AibError(f"output {target}: OpenCV cannot write it (check the folder and suffix)")
            best = prediction.top_k[0]
            print(f"{item.name}: {best.label} ({best.score:.1%})")
    if kind == "image" and errors:
        raise AibError(f"image {source}: no result ({errors} error)")


def run_video(predictor, source: Path, output: Path, results_path: Path) -> None:
    from .media import VideoWriter

    reader = VideoReader(source)
    writer = VideoWriter(output, reader.fps)
    progress = Progress(reader.frame_count)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(results_path, "w", encoding="utf-8") as results:
            for index, frame in enumerate(reader):
                prediction = predictor.predict_one(frame)
                item = InputItem(f"{source.name}#{index}", index, frame)
                results.write(json.dumps(result_record(item, prediction)) + "\n")
                progress.update()
                writer.write(annotate(frame, prediction, fps=progress.rate))
    finally:
        writer.close()
        progress.close()

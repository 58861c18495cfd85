"""`aib predict MODEL INPUT`: annotated image/video/folder plus JSON lines of results."""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import cv2

from ..errors import AibError
from ..media.annotate import annotate
from ..media.io import VideoReader, VideoWriter, folder_images, input_kind, iter_images
from ..progress import Progress
from ..runtime import Prediction, Predictor, load_predictor
from ..runtime.predictor import DEFAULT_TOP_K
from ..runtime.results_file import STDOUT, ResultsFile
from .options import add_runner_options, runner_options


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="classify an image, a folder of images or a video and draw the attention",
        description="Writes an annotated image/video (attention heat map, top-1 label) and JSON lines of "
        "per-frame results: top-k classes, the attention map, anchor indices and timings.",
    )
    parser.add_argument("model", help="an exported .onnx file, or a checkpoint (.pth/.pt/.tar) for the PyTorch backend")
    parser.add_argument("input", help="an image, a folder of images, or a video file")
    parser.add_argument("-o", "--output", help="annotated image/video, or a folder for folder input (default: INPUT_aib...)")
    parser.add_argument("--results", help="JSON-lines file in the result schema (default: beside the output; - for standard output)")
    add_runner_options(parser)
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help=f"classes per result (default {DEFAULT_TOP_K})")
    parser.add_argument("--labels", help="class labels, one per line (PyTorch backend; ONNX files carry theirs)")
    parser.set_defaults(handler=run_predict)


def default_output(source: Path, kind: str) -> Path:
    if kind == "folder":
        return source.with_name(source.name + "_aib")
    suffix = ".mp4" if kind == "video" else ".png"
    return source.with_name(source.stem + "_aib" + suffix)


def run_predict(args: argparse.Namespace) -> None:
    source = Path(args.input)
    kind = input_kind(source)
    if kind == "folder":
        folder_images(source)  # an empty folder fails here, before anything is written
    output = Path(args.output) if args.output else default_output(source, kind)
    if kind == "image" and not cv2.haveImageWriter(str(output)):
        raise AibError(f"-o {output}: OpenCV cannot write {output.suffix or 'files without a suffix'}; use .png or .jpg")
    results_path = args.results or str(output / "results.jsonl" if kind == "folder" else output.with_suffix(".jsonl"))
    say = functools.partial(print, file=sys.stderr if results_path == STDOUT else sys.stdout)
    with load_predictor(args.model, runner_options(args), top_k=args.top_k) as predictor, \
            ResultsFile(results_path, predictor.card, predictor.backend) as results:  # fmt: skip
        if kind == "video":
            run_video(predictor, source, output, results)
        else:
            run_images(predictor, source, output, results, kind, say)
    say(f"wrote {output} and {'standard output' if results_path == STDOUT else results_path}")


def run_images(predictor: Predictor, source: Path, output: Path, results: ResultsFile, kind: str, say) -> None:
    errors = 0
    for item in iter_images(source):
        prediction = Prediction(error=item.error) if item.frame is None else predictor.predict_one(item.frame)
        results.write(prediction, item.name, item.index)
        if not prediction.ok:
            errors += 1
            say(f"aib: {item.name}: {prediction.error}")
            continue
        target = output / (Path(item.name).stem + "_aib.png") if kind == "folder" else output
        target.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(target), annotate(item.frame, prediction)):
            raise AibError(f"output {target}: OpenCV cannot write it (check the folder and suffix)")
        best = prediction.top_k[0]
        say(f"{item.name}: {best.label} ({best.score:.1%})")
    if kind == "image" and errors:
        raise AibError(f"image {source}: no result ({errors} error)")


def run_video(predictor: Predictor, source: Path, output: Path, results: ResultsFile) -> None:
    reader = VideoReader(source)
    writer = VideoWriter(output, reader.fps)
    progress = Progress(reader.frame_count)
    try:
        for index, frame in enumerate(reader):
            prediction = predictor.predict_one(frame)
            results.write(prediction, f"{source.name}#{index}", index)
            progress.update()
            writer.write(annotate(frame, prediction, fps=progress.rate))
    finally:
        writer.close()
        progress.close()
    if reader.missing > 1:  # containers may round their frame count by one
        raise AibError(f"video {source}: decoded {reader.decoded} of the {reader.frame_count} frames its container "
                       f"declares; the rest is corrupt or cut off (results for the {reader.decoded} frames were written)")

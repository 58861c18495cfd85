"""`aib predict MODEL INPUT`: annotated image/video/folder plus JSON lines of results."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import cv2

from ..errors import AibError, OptionError
from ..media.annotate import annotate
from ..media.io import (
    CAMERA_FPS,
    VIDEO_SUFFIX,
    VideoReader,
    VideoWriter,
    camera_frames,
    image_files,
    input_kind,
    iter_images,
)
from ..progress import Progress
from ..runtime import Prediction, Predictor, load_predictor
from ..runtime.predictor import DEFAULT_TOP_K
from ..runtime.results_file import STDOUT, ResultsFile, messages_stream
from .options import add_failure_option, add_runner_options, check_failures, positive_int, runner_options
from .paths import InputPath, ModelPath, OutputPath, refuse_overwriting, resolved


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="classify an image, a folder of images or a video and draw the attention",
        description="Writes an annotated image/video (attention heat map, top-1 label) and JSON lines of "
        "per-frame results: top-k classes, the attention map, anchor indices and timings.",
    )
    parser.add_argument(
        "model", type=ModelPath(), help="an exported .onnx file, or a checkpoint (.pth/.pt/.tar) for the PyTorch backend"
    )
    parser.add_argument(
        "input",
        type=InputPath("file or folder", sources=True),
        help="an image, a folder of images (with subfolders), a glob such as 'frames/**/*.jpg', "
        "a video file, or a camera index such as 0",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=OutputPath("file or folder"),
        help="annotated image/video, or a folder for folder input (default: INPUT_aib...)",
    )
    parser.add_argument(
        "--results",
        type=OutputPath(),
        help="JSON-lines file in the result schema (default: beside the output; - for standard output)",
    )
    add_runner_options(parser)
    add_failure_option(parser)
    parser.add_argument("--top-k", type=positive_int, default=DEFAULT_TOP_K, help=f"classes per result (default {DEFAULT_TOP_K})")
    parser.add_argument(
        "--labels", type=InputPath(), help="class labels, one per line (PyTorch backend; ONNX files carry theirs)"
    )
    parser.set_defaults(handler=run_predict)


GLOB_OUTPUT = Path("aib_predictions")  # where a glob's annotated images go by default


def default_output(source: str, kind: str) -> Path:
    if kind == "camera":
        return Path(f"camera{source}_aib.mp4")
    if kind == "glob":
        return GLOB_OUTPUT
    path = Path(source)
    if kind == "folder":
        return path.with_name(path.name + "_aib")
    suffix = ".mp4" if kind == "video" else ".png"
    return path.with_name(path.stem + "_aib" + suffix)


def refuse_overwriting_inputs(args: argparse.Namespace, kind: str, output: Path, results_path: str) -> None:
    """One line when what predict would write is the model or the input itself, or (for a folder) lies inside
    the input folder, where the next run would read it back as input."""
    inputs = {"MODEL": args.model, **({"INPUT": args.input} if kind in ("image", "video") else {})}
    refuse_overwriting({"-o": output, "--results": results_path}, inputs)
    if kind == "folder" and resolved("-o", output).is_relative_to(resolved("INPUT", args.input)):
        raise AibError(f"-o {output}: inside the input folder {args.input}; the annotated images would be read back as input")


def run_predict(args: argparse.Namespace) -> None:
    kind = input_kind(args.input)
    if kind in ("folder", "glob"):
        image_files(args.input)  # no images: fail here, before anything is written
    frames = camera_frames(int(args.input)) if kind == "camera" else None
    output = Path(args.output) if args.output else default_output(args.input, kind)
    if kind == "image" and not cv2.haveImageWriter(str(output)):
        raise OptionError(f"-o {output}: OpenCV cannot write {output.suffix or 'files without a suffix'}; use .png or .jpg")
    if kind in ("video", "camera") and output.suffix.lower() != VIDEO_SUFFIX:
        raise OptionError(
            f"-o {output}: a video's annotated frames go to a {VIDEO_SUFFIX} file, got {output.suffix or 'no suffix'}"
        )
    many = kind in ("folder", "glob")
    if many and output.is_file():
        raise AibError(f"-o {output}: a file; a folder's annotated images go to a folder")
    results_path = args.results or str(output / "results.jsonl" if many else output.with_suffix(".jsonl"))
    refuse_overwriting_inputs(args, kind, output, results_path)
    say = functools.partial(print, file=messages_stream(results_path))
    with (
        load_predictor(args.model, runner_options(args), top_k=args.top_k) as predictor,
        ResultsFile(results_path, predictor.card, predictor.backend) as results,
    ):
        if kind in ("video", "camera"):
            run_video(predictor, args.input, frames, output, results)
            total = failed = 0
        else:
            total, failed = run_images(predictor, args.input, output, results, many, say)
    say(f"wrote {output} and {'standard output' if results_path == STDOUT else results_path}")
    if many:
        say(f"{total - failed} ok, {failed} failed")
        check_failures(args, failed, total, "images")


def run_images(predictor: Predictor, source: str, output: Path, results: ResultsFile, many: bool, say) -> tuple[int, int]:
    """Predict, draw and record each image; the number of images and of those that failed."""
    errors = total = 0
    for item in iter_images(source):
        total += 1
        prediction = Prediction(error=item.error) if item.frame is None else predictor.predict_one(item.frame)
        results.write(prediction, item.name, item.index)
        if not prediction.ok:
            errors += 1
            say(f"aib: {item.name}: {prediction.error}")
            continue
        name = Path(item.name)
        target = output / name.with_name(name.stem + "_aib.png") if many else output
        target.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(target), annotate(item.frame, prediction)):
            raise AibError(f"output {target}: OpenCV cannot write it (check the folder and suffix)")
        best = prediction.top_k[0]
        say(f"{item.name}: {best.label} ({best.score:.1%})")
    if not many and errors:
        raise AibError(f"image {source}: no result ({errors} error)")
    return total, errors


def run_video(predictor: Predictor, source: str, camera, output: Path, results: ResultsFile) -> None:
    """A video file, or a camera's frames (until it stops or Ctrl-C)."""
    reader = VideoReader(source) if camera is None else None
    writer = VideoWriter(output, reader.fps if reader else CAMERA_FPS)
    progress = Progress(reader.frame_count if reader else None)
    name = Path(source).name if reader else f"camera{source}"
    try:
        for index, frame in enumerate(reader if reader else camera):
            prediction = predictor.predict_one(frame)
            results.write(prediction, f"{name}#{index}", index)
            progress.update()
            writer.write(annotate(frame, prediction, fps=progress.rate))
    finally:
        writer.close()
        progress.close()
    if reader is not None and reader.missing > 1:  # containers may round their frame count by one
        raise AibError(
            f"video {source}: decoded {reader.decoded} of the {reader.frame_count} frames its container "
            f"declares; the rest is corrupt or cut off (results for the {reader.decoded} frames were written)"
        )

"""`aib predict` on real image, folder and video files."""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from aib_deploy.contract import MAX_PIXELS
from aib_deploy.media.synthetic import make_sample, write_video
from tests.helpers.cli import assert_one_line_error, call_aib, run_aib
from tests.helpers.results import read_results


@pytest.fixture(scope="module")
def glyph_image(tmp_path_factory):
    sample = make_sample(np.random.default_rng(5), 200)
    path = tmp_path_factory.mktemp("img") / "glyph.png"
    cv2.imwrite(str(path), sample.image)
    return path, sample


def read_jsonl(path):
    """The frame records, every line checked against the result schema."""
    return read_results(path)[1]


def test_image(demo_onnx, glyph_image, tmp_path):
    path, sample = glyph_image
    output = tmp_path / "out.png"
    result = call_aib("predict", demo_onnx, path, "-o", output)
    assert result.returncode == 0, result.stderr
    annotated = cv2.imread(str(output))
    # 200 x 200 enlarged twice to reach 256 px, plus the colour-scale strip beside it
    assert annotated.shape == (400, 400 + 56, 3) and not np.array_equal(annotated[:, :400:2][::2], sample.image)
    (record,) = read_jsonl(output.with_suffix(".jsonl"))
    assert record["error"] == "" and len(record["top_k"]) == 5
    assert record["top_k"][0]["label"] in result.stdout
    assert np.asarray(record["anchor_index"]).shape == (16, 16)


def test_folder_with_a_corrupt_file_goes_on(demo_onnx, glyph_image, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), glyph_image[1].image)
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    cv2.imwrite(str(folder / "c.png"), cv2.cvtColor(glyph_image[1].image, cv2.COLOR_BGR2GRAY))
    (folder / "d.png").symlink_to(tmp_path / "gone.png")  # a link to nothing fails by name, not silently
    result = call_aib("predict", demo_onnx, folder, "-o", tmp_path / "annotated")
    assert "2 ok, 2 failed" in result.stdout
    assert_one_line_error(result, "2 of 4 images failed")  # a partial result exits 1
    assert call_aib("predict", demo_onnx, folder, "-o", tmp_path / "annotated", "--allow-failures").returncode == 0
    records = read_jsonl(tmp_path / "annotated" / "results.jsonl")
    assert [r["source"] for r in records] == ["a.png", "b.jpg", "c.png", "d.png"]
    assert records[0]["error"] == "" and records[2]["error"] == ""
    assert "b.jpg: JPEG: cut short" in records[1]["error"] and "file not found" in records[3]["error"]
    assert sorted(p.name for p in (tmp_path / "annotated").glob("*.png")) == ["a_aib.png", "c_aib.png"]


def test_video(demo_onnx, tmp_path):
    video = tmp_path / "clip.mp4"
    truth = write_video(video, frames=24, size=128, seed=9)
    output = tmp_path / "clip_annotated.mp4"
    result = call_aib("predict", demo_onnx, video, "-o", output)
    assert result.returncode == 0, result.stderr
    assert "24/24 frames" in result.stderr
    records = read_jsonl(output.with_suffix(".jsonl"))
    assert [r["frame_index"] for r in records] == list(range(24))
    capture = cv2.VideoCapture(str(output))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    ok, frame = capture.read()
    assert ok and frame.shape == (256, 256 + 44, 3)  # enlarged twice, plus the colour-scale strip
    correct = sum(r["top_k"][0]["class_index"] == label for r, label in zip(records, truth.labels))
    assert correct >= 18


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("clip.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video", "video"),
        ("photo.jpg", b"\xff\xd8 broken", "JPEG: corrupt header"),
    ],
    ids=["video", "image"],
)
def test_corrupt_inputs_get_one_line(demo_onnx, tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error(call_aib("predict", demo_onnx, path, "-o", tmp_path / ("out" + path.suffix)), str(path), fragment)


def test_what_libpng_says_of_a_corrupt_png_is_in_the_one_line(demo_onnx, tmp_path):
    """libpng writes its error straight to the process's stderr; it ends up inside our line, not above it."""
    _ok, encoded = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = bytearray(encoded.tobytes())
    data[100:140] = bytes(40)  # inside the pixel data: the header is fine, the chunk's CRC is not
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    result = run_aib("predict", demo_onnx, path)
    assert_one_line_error(result, f"image {path}: cannot decode it (libpng error: IDAT: CRC error)")


def test_a_video_corrupt_in_the_middle_says_how_many_frames_it_read(demo_onnx, tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, frames=60, size=128, seed=9)
    data = video.read_bytes()
    third = len(data) // 3
    video.write_bytes(data[:third] + bytes(third) + data[2 * third :])  # the container's index survives
    output = tmp_path / "out.mp4"
    result = call_aib("predict", demo_onnx, video, "-o", output)
    *progress, error = result.stderr.strip().splitlines()  # the progress bar's last line, then the error
    assert result.returncode == 1 and "Traceback" not in result.stderr and len(progress) <= 1
    assert error.startswith(f"aib: error: video {video}: decoded ") and " of the 60 frames its container declares" in error
    decoded = int(error.split("decoded ")[1].split()[0])
    assert 0 < decoded < 60 and len(read_jsonl(output.with_suffix(".jsonl"))) == decoded


def test_an_image_bomb_is_refused_before_decoding(demo_onnx, tmp_path):
    from tests.serving.test_hostile_clients import png_chunk

    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)  # gray, as reported
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(bytes(1 << 20))))
    assert_one_line_error(
        call_aib("predict", demo_onnx, bomb, "-o", tmp_path / "out.png"),
        f"30000x30000 exceeds the limit of {MAX_PIXELS} pixels (not decoded)",
    )


def test_an_empty_folder_fails_without_writing_anything(demo_onnx, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(call_aib("predict", demo_onnx, empty, "-o", tmp_path / "out"), "no images")
    assert not (tmp_path / "out").exists()


def test_output_suffix_is_checked_and_results_go_to_stdout(demo_onnx, glyph_image, tmp_path):
    path, _ = glyph_image
    assert_one_line_error(call_aib("predict", demo_onnx, path, "-o", tmp_path / "out.bmpx"), "-o", "cannot write .bmpx", code=2)
    result = call_aib("predict", demo_onnx, path, "-o", tmp_path / "out.png", "--results", "-")
    assert result.returncode == 0, result.stderr
    model, frame = (json.loads(line) for line in result.stdout.splitlines())
    assert model["kind"] == "model" and frame["kind"] == "frame" and "glyph.png:" in result.stderr
    assert not (tmp_path / "-").exists()


def test_a_corrupt_single_image_leaves_no_results_file(demo_onnx, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert_one_line_error(call_aib("predict", demo_onnx, broken, "-o", tmp_path / "out.png"), "PNG: no IHDR")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_glob_and_a_folder_with_subfolders(demo_onnx, glyph_image, tmp_path):
    _, sample = glyph_image
    root = tmp_path / "shots"
    for name in ("day/a.png", "day/b.jpg", "night/c.png", "night/notes.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("txt"):
            (root / name).write_text("not an image")
        else:
            cv2.imwrite(str(root / name), sample.image)
    result = call_aib("predict", demo_onnx, root, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert [r["source"] for r in read_jsonl(tmp_path / "out" / "results.jsonl")] == ["day/a.png", "day/b.jpg", "night/c.png"]
    assert (tmp_path / "out" / "night" / "c_aib.png").is_file()
    result = call_aib("predict", demo_onnx, f"{root}/**/*.png", "-o", tmp_path / "globbed")
    assert result.returncode == 0, result.stderr
    assert [r["source"] for r in read_jsonl(tmp_path / "globbed" / "results.jsonl")] == ["day/a.png", "night/c.png"]
    assert (tmp_path / "globbed" / "day" / "a_aib.png").is_file() and not (root / "day" / "a_aib.png").exists()
    assert_one_line_error(call_aib("predict", demo_onnx, f"{root}/**/*.gif"), "no images")


def test_an_absent_camera_is_one_line(demo_onnx):
    assert_one_line_error(call_aib("predict", demo_onnx, "7"), "camera 7: cannot open it")


def test_labels_for_an_onnx_file_are_refused_not_ignored(demo_onnx, glyph_image, tmp_path):
    picture = glyph_image[0]
    (tmp_path / "two.txt").write_text("cat\ndog\n")
    result = call_aib("predict", demo_onnx, picture, "--labels", tmp_path / "two.txt")
    assert_one_line_error(result, "--labels: demo.onnx carries the labels it was exported with")
    assert not picture.with_name("glyph_aib.png").exists()


def test_a_video_written_as_a_picture_is_refused_before_any_frame(demo_onnx, tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, frames=3, size=64, seed=1)
    result = call_aib("predict", demo_onnx, video, "-o", tmp_path / "out.png")
    assert_one_line_error(result, "-o", "out.png: a video's annotated frames go to a .mp4 file, got .png", code=2)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4"]


def test_predict_never_writes_over_its_inputs(demo_onnx, glyph_image, tmp_path):
    """Found by an independent pass: --results over the model, -o over the image, -o inside the input folder."""
    model = tmp_path / "model.onnx"
    model.write_bytes(demo_onnx.read_bytes())
    picture = tmp_path / "picture.png"
    picture.write_bytes(glyph_image[0].read_bytes())
    before = {path.name: path.read_bytes() for path in (model, picture)}
    assert_one_line_error(
        call_aib("predict", model, picture, "--results", model), "--results", "is an input of this command", code=2
    )
    assert_one_line_error(call_aib("predict", model, picture, "-o", picture), "-o", "is an input of this command", code=2)
    same = tmp_path / "same.png"
    result = call_aib("predict", model, picture, "-o", same, "--results", same)
    assert_one_line_error(result, f"-o {same} and --results {same}: the same file", code=2)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").write_bytes(before["picture.png"])
    assert_one_line_error(call_aib("predict", model, folder, "-o", folder), "inside the input folder")
    assert {path.name: path.read_bytes() for path in (model, picture)} == before
    assert sorted(path.name for path in folder.iterdir()) == ["a.png"]


def test_a_long_thin_image_is_drawn_without_blowing_up(demo_onnx, tmp_path):
    strip = tmp_path / "wide.png"
    cv2.imwrite(str(strip), np.full((1, 5000, 3), 128, np.uint8))
    result = call_aib("predict", demo_onnx, strip)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "wide_aib.png")).shape[:2] == (1, 5000 + 700)  # not enlarged; the scale beside it


def test_precision_and_cuda_graphs_reach_the_pytorch_runner(glyph_image, tmp_path):
    """--precision fp16 runs a checkpoint as `aib export fp16` writes it; what needs CUDA is one line here."""
    from aib_deploy.demo.run import bundled_checkpoint

    path, _ = glyph_image
    checkpoint = bundled_checkpoint()
    result = call_aib("predict", checkpoint, path, "--precision", "fp16", "-o", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(tmp_path / "out.jsonl")
    assert record["error"] == ""
    bench = call_aib("bench", checkpoint, "--precision", "fp16", "--batch", "1", "--runs", "1", "--warmup", "0")
    assert bench.returncode == 0 and "pytorch-cpu fp16" in bench.stdout, bench.stderr
    assert_one_line_error(call_aib("predict", checkpoint, path, "--cuda-graphs", "--device", "cpu"), "--cuda-graphs", "CUDA")
    assert_one_line_error(call_aib("predict", checkpoint, path, "--precision", "tf32", "--device", "cpu"), "tf32", "CPU")


def test_precision_and_cuda_graphs_on_an_onnx_file_are_refused_not_ignored(demo_onnx, glyph_image):
    path, _ = glyph_image
    assert_one_line_error(call_aib("predict", demo_onnx, path, "--precision", "fp16"), "--precision", "aib export fp16")
    assert_one_line_error(call_aib("predict", demo_onnx, path, "--cuda-graphs"), "--cuda-graphs", "ONNX Runtime")
    assert_one_line_error(call_aib("predict", demo_onnx, path, "--compile"), "--compile", "torch.compile")


def test_compile_reaches_the_pytorch_runner():
    """`--compile [MODE]` is handed to the runner (compiling itself is left to the GPU suite: a minute on a CPU)."""
    from aib_deploy.cli import build_parser
    from aib_deploy.cli.options import runner_options
    from aib_deploy.demo.run import bundled_checkpoint
    from aib_deploy.runtime import open_runner

    for flags, mode in ((["--compile"], "default"), (["--compile", "max-autotune"], "max-autotune"), ([], None)):
        args = build_parser().parse_args(["bench", str(bundled_checkpoint()), *flags])
        assert open_runner(bundled_checkpoint(), runner_options(args)).compile_mode == mode


def test_a_model_that_answers_nan_fails_the_frame_not_reports_nan_percent(glyph_image, tmp_path):
    import torch

    from aib_deploy.demo.run import bundled_checkpoint
    from aib_deploy.models.checkpoint import load_model

    weights = load_model(bundled_checkpoint()).model.state_dict()
    first = next(key for key, value in weights.items() if value.is_floating_point())
    weights[first] = weights[first] * float("nan")
    broken = tmp_path / "nan.pth"
    torch.save(weights, broken)
    path, _ = glyph_image
    result = run_aib("predict", broken, path, "-o", tmp_path / "out.png")
    assert result.returncode == 1 and "Warning" not in result.stderr, result.stderr
    assert "model output is not finite (NaN or inf)" in result.stdout + result.stderr
    assert "nan%" not in result.stdout

"""`aib eval` on a synthetic set in CUB's layout and as a CSV list: figures, bad lines, --compare."""

import shutil

import cv2
import numpy as np
import pytest

from aib_deploy.eval.cub_layout import write_cub_layout
from aib_deploy.eval.sheet import CAPTION, ROW_LABEL, TILE
from aib_deploy.localization import score_localization
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import load_predictor
from tests.helpers.cli import assert_error_after_progress, call_aib
from tests.helpers.results import read_results
from tests.helpers.schemas import validated

COUNT = 40


@pytest.fixture(scope="module")
def cub_set(tmp_path_factory):
    """COUNT glyph images in CUB-200-2011's layout, written by the library's helper from corner boxes."""
    folder = tmp_path_factory.mktemp("cub")
    images, labels, boxes = make_dataset(COUNT, 96, seed=321)
    write_cub_layout(folder, images, labels, boxes)
    return folder, images, labels, boxes


def test_cub_layout_figures_match_the_scorer_on_the_same_frames(demo_onnx, cub_set, tmp_path):
    folder, images, labels, boxes = cub_set
    result = call_aib("eval", demo_onnx, folder, "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = validated(tmp_path / "out" / "eval.json", "eval")
    _, records = read_results(tmp_path / "out" / report["records"])  # one record per image, in the result schema
    assert [record["truth"]["class_index"] for record in records] == [int(label) for label in labels]
    assert records[0]["where"] == f"{folder / 'images.txt'}:1" and records[0]["truth"]["box"] == list(map(float, boxes[0]))
    with load_predictor(demo_onnx) as predictor:
        predictions = predictor.predict(list(images))
    expected = score_localization([p.attention for p in predictions], boxes.tolist(), 96, 96).to_dict()
    assert report["images"] == COUNT and report["errors"] == []
    assert report["top1"] == pytest.approx(np.mean([p.top_k[0].class_index == t for p, t in zip(predictions, labels)]))
    assert report["localization"] == pytest.approx(expected)
    assert report["top5"] >= report["top1"] and report["anchors_used"]["of"] == 20
    assert sum(row["images"] for row in report["per_class"]) == COUNT
    sheet = cv2.imread(str(tmp_path / "out" / "contact_sheet.png"))
    assert sheet.shape == (2 * (TILE + CAPTION), ROW_LABEL + 6 * TILE, 3)  # best and worst rows of 6, captioned
    captions = sheet[TILE : TILE + CAPTION, ROW_LABEL:]
    assert (captions < 100).any(axis=2).mean() > 0.02  # the captions are written (dark ink on white)
    assert (sheet[:, :ROW_LABEL] < 100).any()  # and the rows are named
    assert f"pointing game {expected['attention_max_in_box']:.2%}" in result.stdout
    first = report["per_class"][0]  # the per-class table is printed too
    assert f"{first['class_index']:>5}  {first['label']:<8}  {first['images']:>6}  {first['top1']:>7.2%}" in result.stdout


def test_a_csv_list_with_bad_lines_reports_each_and_goes_on(demo_onnx, cub_set, tmp_path):
    folder, _, labels, boxes = cub_set
    listing = folder / "list.csv"
    lines = [
        f"{i + 1:05d}.png,{labels[i]},{boxes[i][0]},{boxes[i][1]},{boxes[i][2] - boxes[i][0]},{boxes[i][3] - boxes[i][1]}"
        for i in range(10)
    ]
    lines += ["missing.png,1", "00001.png,zebra", "00001.png,1,2", "00002.png,disc,90,90,50,50"]
    listing.write_text("path,label,x,y,w,h\n" + "\n".join(lines) + "\n")  # a header row is read as one
    result = call_aib("eval", demo_onnx, listing)
    said = result.stdout
    assert f"{listing}:12:" in said and "missing.png: file not found" in said
    assert f"{listing}:13: unknown label 'zebra'" in said
    assert f"{listing}:14: expected path,label or path,label,x,y,w,h; got 3 fields" in said
    assert f"{listing}:15: box" in said and "lies outside the 96x96 image" in said
    assert "10 images (4 errors)" in said and f"{listing}:1:" not in said
    # A partial result is not a success: exit 1 with a count, unless the user says failures are expected.
    assert_error_after_progress(result, "4 of 14 entries failed; the others' results were written")
    assert call_aib("eval", demo_onnx, listing, "--allow-failures").returncode == 0


def test_malformed_cub_lines_each_get_a_line_naming_file_and_line(demo_onnx, cub_set, tmp_path):
    folder = tmp_path / "cub"
    shutil.copytree(cub_set[0], folder)
    images = (folder / "images.txt").read_text().splitlines()
    classes = (folder / "image_class_labels.txt").read_text().splitlines()
    images[1] = "2"  # no path
    classes[2] = "3 bird"  # not a class number
    del classes[3]  # image 4 has no class line
    images.append(f"{COUNT + 1} {COUNT + 1:05d}.png")  # no split line: an error, not left out of the test split
    (folder / "images.txt").write_text("\n".join(images) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(classes) + "\n")
    result = call_aib("eval", demo_onnx, folder, "--allow-failures")
    assert result.returncode == 0, result.stderr
    assert f"{folder / 'images.txt'}:2: expected 'id path', got 1 fields" in result.stdout
    assert f"{folder / 'image_class_labels.txt'}:3: expected 'id class' with a class 1 to 8, got 'bird'" in result.stdout
    assert f"{folder / 'images.txt'}:4: image id 4 has no line in {folder / 'image_class_labels.txt'}" in result.stdout
    split_file = folder / "train_test_split.txt"
    assert f"{folder / 'images.txt'}:{COUNT + 1}: image id {COUNT + 1} has no 'id 0|1' line in {split_file}" in result.stdout
    assert f"{COUNT - 3} images (4 errors)" in result.stdout


def test_compare_with_the_int8_file(demo_onnx, demo_int8, cub_set, tmp_path):
    folder = cub_set[0]
    int8 = demo_int8
    result = call_aib("eval", demo_onnx, folder, "--compare", int8, "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    compare = validated(tmp_path / "out" / "eval.json", "eval")["compare"]
    assert compare["frames"] == COUNT and compare["top1"] >= 0.9 and compare["index_exact"] > 0.8
    assert "against" in result.stdout and "anchor-index agreement" in result.stdout


def test_checkpoints_also_get_the_stochastic_accuracy(cub_set):
    from aib_deploy.demo.run import bundled_checkpoint

    result = call_aib("eval", bundled_checkpoint(), cub_set[0])
    assert result.returncode == 0, result.stderr
    assert "stochastic top-1 (num_avg 4):" in result.stdout


def test_the_cub_writer_takes_corner_boxes_and_aib_eval_reads_every_image(demo_onnx, tmp_path):
    """A user's set written from (x0, y0, x1, y1) boxes once lost 25 of 36 images to box errors."""
    images, labels, boxes = make_dataset(36, 96, seed=7)
    folder = write_cub_layout(tmp_path / "set", images, labels, boxes)
    assert (folder / "bounding_boxes.txt").read_text().splitlines()[0] == (
        f"1 {boxes[0][0]:g} {boxes[0][1]:g} {boxes[0][2] - boxes[0][0]:g} {boxes[0][3] - boxes[0][1]:g}"
    )
    result = call_aib("eval", demo_onnx, folder)
    assert result.returncode == 0, result.stderr
    assert "36 images (0 errors)" in result.stdout


def test_one_folder_per_class_is_read_as_torchvision_s_image_folder(demo_onnx, tmp_path):
    """CLASS/IMAGE folders named by label or class index; no boxes, so classes are scored and no sheet drawn."""
    images, labels, _ = make_dataset(12, 96, seed=5)
    with load_predictor(demo_onnx) as predictor:
        names = predictor.card.labels
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "set" / (names[label] if index % 2 else str(label))  # by name, or by index
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{index}.png"), image)
    (tmp_path / "set" / "zebra").mkdir()
    result = call_aib("eval", demo_onnx, tmp_path / "set", "--output", tmp_path / "out", "--allow-failures")
    assert result.returncode == 0, result.stderr
    report = validated(tmp_path / "out" / "eval.json", "eval")
    assert report["images"] == 12 and report["top1"] > 0.9 and "localization" not in report
    assert len(report["errors"]) == 1 and "zebra: unknown label 'zebra'" in report["errors"][0]
    assert not (tmp_path / "out" / "contact_sheet.png").exists()


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("latin1.csv", b"path,label\n00001.png,d\xe9sc\n", "not UTF-8 text (byte 22"),
        ("utf16.csv", "path,label\n00001.png,disc\n".encode("utf-16"), "not UTF-8 text"),
        ("nan.csv", b"00001.png,0,nan,0,10,10\n", "is not four finite numbers"),
        ("number.jsonl", b'{"path": 5, "label": "disc"}\n', "expected a path (text), got 5"),
        ("keys.jsonl", b'{"path": "00001.png", "label": 0, "x": 1, "y": 0, "w": 9, "h": 9}\n', "unknown keys h, w, x, y"),
        ("box.jsonl", b'{"path": "00001.png", "label": 0, "box": 7}\n', "box 7 is not a list"),
    ],
)
def test_lists_a_user_might_write_get_one_line_each(demo_onnx, cub_set, tmp_path, name, content, fragment):
    """Found by an independent pass: other encodings, a NaN box, a number for a path, box keys spelled out."""
    listing = cub_set[0] / name
    listing.write_bytes(content)
    result = call_aib("eval", demo_onnx, listing)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert fragment in result.stdout + result.stderr


def test_a_byte_order_mark_is_not_part_of_the_header(demo_onnx, cub_set):
    listing = cub_set[0] / "bom.csv"
    listing.write_bytes(b"\xef\xbb\xbfpath,label\n00001.png,0\n")
    result = call_aib("eval", demo_onnx, listing)
    assert result.returncode == 0 and "1 images (0 errors)" in result.stdout, result.stdout + result.stderr


def test_a_list_where_every_image_fails_writes_nothing_even_with_allow_failures(demo_onnx, tmp_path):
    """Found by an independent pass: every entry bad wrote eval.json with '0 images' (exit 0 with --allow-failures)."""
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "list.csv").write_text("path,label\na.png,0\nb.png,1\n")
    output = tmp_path / "report"
    result = call_aib("eval", demo_onnx, tmp_path / "list.csv", "--output", output, "--allow-failures")
    assert_error_after_progress(result, "no usable images (2 bad entries)")
    assert not output.exists()

"""`aib eval` on a synthetic set in CUB's layout and as a CSV list: figures, bad lines, --compare."""

import json

import cv2
import numpy as np
import pytest

from aib_deploy.localization import score_localization
from aib_deploy.media.synthetic import make_dataset
from aib_deploy.runtime import load_predictor
from tests.helpers.cli import call_aib

COUNT = 40


@pytest.fixture(scope="module")
def cub_set(tmp_path_factory):
    """COUNT glyph images written in CUB-200-2011's layout (1-based class ids, x y w h boxes), all in the test split."""
    folder = tmp_path_factory.mktemp("cub")
    (folder / "images" / "glyphs").mkdir(parents=True)
    images, labels, boxes = make_dataset(COUNT, 96, seed=321)
    rows = {name: [] for name in ("images", "image_class_labels", "bounding_boxes", "train_test_split")}
    for index, (image, label, (x0, y0, x1, y1)) in enumerate(zip(images, labels, boxes), start=1):
        cv2.imwrite(str(folder / "images" / "glyphs" / f"{index}.png"), image)
        rows["images"].append(f"{index} glyphs/{index}.png")
        rows["image_class_labels"].append(f"{index} {label + 1}")
        rows["bounding_boxes"].append(f"{index} {x0} {y0} {x1 - x0} {y1 - y0}")
        rows["train_test_split"].append(f"{index} 0")
    for name, lines in rows.items():
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return folder, images, labels, boxes


def test_cub_layout_figures_match_the_scorer_on_the_same_frames(demo_onnx, cub_set, tmp_path):
    folder, images, labels, boxes = cub_set
    result = call_aib("eval", demo_onnx, folder, "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    with load_predictor(demo_onnx) as predictor:
        predictions = predictor.predict(list(images))
    expected = score_localization([p.attention for p in predictions], boxes.tolist(), 96, 96).to_dict()
    assert report["images"] == COUNT and report["errors"] == []
    assert report["top1"] == pytest.approx(np.mean([p.top_k[0].class_index == t for p, t in zip(predictions, labels)]))
    assert report["localization"] == pytest.approx(expected)
    assert report["top5"] >= report["top1"] and report["anchors_used"]["of"] == 20
    assert sum(row["images"] for row in report["per_class"]) == COUNT
    sheet = cv2.imread(str(tmp_path / "out" / "contact_sheet.png"))
    assert sheet.shape == (400, 1200, 3)
    assert f"pointing game {expected['attention_max_in_box']:.2%}" in result.stdout


def test_a_csv_list_with_bad_lines_reports_each_and_goes_on(demo_onnx, cub_set, tmp_path):
    folder, _, labels, boxes = cub_set
    listing = folder / "list.csv"
    lines = [
        f"glyphs/{i + 1}.png,{labels[i]},{boxes[i][0]},{boxes[i][1]},{boxes[i][2] - boxes[i][0]},{boxes[i][3] - boxes[i][1]}"
        for i in range(10)
    ]
    lines += ["glyphs/missing.png,1", "glyphs/1.png,zebra", "glyphs/1.png,1,2", "glyphs/2.png,disc,90,90,50,50"]
    listing.write_text("\n".join(lines) + "\n")
    result = call_aib("eval", demo_onnx, listing)
    assert result.returncode == 0, result.stderr
    said = result.stdout
    assert f"{listing}:11:" in said and "missing.png: file not found" in said
    assert f"{listing}:12: unknown label 'zebra'" in said
    assert f"{listing}:13: expected path,label or path,label,x,y,w,h; got 3 fields" in said
    assert f"{listing}:14: box" in said and "lies outside the 96x96 image" in said
    assert "10 images (4 errors)" in said


def test_compare_with_the_int8_file(demo_onnx, demo_int8, cub_set, tmp_path):
    folder = cub_set[0]
    int8 = demo_int8
    result = call_aib("eval", demo_onnx, folder, "--compare", int8, "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    compare = json.loads((tmp_path / "out" / "eval.json").read_text())["compare"]
    assert compare["frames"] == COUNT and compare["top1"] >= 0.9 and compare["index_exact"] > 0.8
    assert "against" in result.stdout and "anchor-index agreement" in result.stdout


def test_checkpoints_also_get_the_stochastic_accuracy(cub_set):
    from aib_deploy.demo.run import bundled_checkpoint

    result = call_aib("eval", bundled_checkpoint(), cub_set[0])
    assert result.returncode == 0, result.stderr
    assert "stochastic top-1 (num_avg 4):" in result.stdout

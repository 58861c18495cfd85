"""scripts/gpu_suite.sh --dry-run: the GPU suite's own code, end to end on the CPU, so it cannot rot between GPUs."""

import json
import subprocess
import sys

import cv2


def test_the_dry_run_measures_reports_and_serves(tmp_path):
    out = tmp_path / "suite"
    env = {"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["bash", "scripts/gpu_suite.sh", str(out), "--dry-run"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "gpu_suite.json").read_text())
    rows = {(row["backend"], row.get("batch")): row for row in result["rows"]}
    for batch in result["plan"]["batches"]:
        fp32, fp16 = rows["fp32 (TF32 off)", batch], rows["fp16", batch]
        assert fp32["top1_agreement"] == fp32["index_agreement"] == 1.0  # the checkpoint against its own ONNX file
        assert fp16["index_agreement"] >= 0.95 and fp16["median_ms"] > 0 and fp16["images_per_s"] > 0
    # What needs CUDA is a row of its reason here, not a crash and not a silent gap.
    assert "CUDA" in rows["fp16 + CUDA graphs", None]["error"] and "CPU" in rows["tf32", None]["error"]
    (served,) = result["serving"]["runs"]
    assert served["answered"] == served["sent"] == served["frames"] > 0 and served["errors"] == 0, served
    assert 0 < served["ratio_to_in_process"] and served["server_cpu_ms_per_frame"] > 0 and served["client_cpu_ms_per_frame"] > 0
    assert result["serving"]["in_process"]["frames"] == served["frames"]
    assert [target["met"] for target in result["targets"]][:2] == [None, None]  # not measured on a CPU, not "missed"
    page = (out / "gpu_suite.md").read_text()
    assert "| demo | fp16 | 1 |" in page and "## Targets" in page and "not measured" in page
    assert cv2.imread(str(out / "gpu_suite_latency.png")) is not None

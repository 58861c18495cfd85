"""Run many demo-model designs (scripts/train_demo_model.py configurations) at once, one JSON line per run.

    PYTHONPATH=. python3 scripts/demo_design_sweep.py --out OUT --device cuda --parallel 8
    .venv/bin/python scripts/demo_design_sweep.py --out /tmp/sweep --smoke --only base decoys_muted  # tiny CPU check

Every configuration starts from the paper's anchor recipe (`--qt-num 20 --anchor-lr-ratio 1e-4`). The
training pools of every scene design are rendered once, by a pool of worker processes, into a shared
cache, and each run starts as soon as its pools are there; runs go in parallel (one GPU holds several).
A run that fails or is cut off by --deadline loses only itself: each result is printed as it finishes and
appended to OUT/results.jsonl; at the end OUT/runs.json holds every run's full metrics and OUT/maps.npz
16 test maps of each (logs stay in --work, removed at the end). A run that meets every target also leaves
its checkpoint in OUT/ckpt/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import train_demo_model as tdm

from aib_deploy.media.synthetic import DEFAULT_DESIGN

SCRIPT = Path(__file__).resolve().parent / "train_demo_model.py"
RECIPE = [
    "--qt-num",
    "20",
    "--anchor-lr-ratio",
    "1e-4",
    "--attention-bias-init",
    "0",
]  # as the recorded sweeps ran (bias 0, before -3 became the default)
MIXED = ["--blobs", "2", "4", "--decoys", "2", "4"]
MIXED_VIVID = ["--blobs", "2", "4", "--decoys", "3", "6", "--decoy-colour", "vivid", "--decoy-scale", "0.12", "0.22"]
VGG = ["--family", "vgg", "--init", "pytorch"]
# name: (what changed, extra arguments); all WRN-10-2, beta 0.01, 1,500 steps unless they say otherwise.
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "base": ("paper's anchor recipe, demo data (GPU reference)", []),
    "decoys_muted": ("2-4 muted decoy glyphs of other classes (0.15-0.25)", ["--decoys", "2", "4"]),
    "blobs": ("2-5 vivid non-glyph blobs in glyph colours", ["--blobs", "2", "5"]),
    "mixed": ("2-4 vivid blobs + 2-4 muted decoys", MIXED),
    "decoys_vivid_small": (
        "2-4 vivid decoy glyphs, smaller (0.12-0.22)",
        ["--decoys", "2", "4", "--decoy-colour", "vivid", "--decoy-scale", "0.12", "0.22"],
    ),
    "mixed_vivid": ("2-4 vivid blobs + 3-6 small vivid decoys", MIXED_VIVID),
    "strokes0": ("no distractor strokes", ["--strokes", "0", "0"]),
    "scale_large": ("glyph scale 0.45-0.75", ["--scale", "0.45", "0.75"]),
    "scale_small": ("glyph scale 0.2-0.4", ["--scale", "0.2", "0.4"]),
    "decoys_muted_dense": ("4-8 muted decoys", ["--decoys", "4", "8"]),
    "blobs_dense": ("5-9 vivid blobs", ["--blobs", "5", "9"]),
    "strokes_dense": ("8-14 strokes", ["--strokes", "8", "14"]),
    "wrn16": ("WRN-16-2, demo data", ["--depth", "16"]),
    "vgg": ("VGG-16-CIFAR (PyTorch init), demo data", VGG),
    "beta0.001": ("beta 0.001, demo data", ["--beta", "0.001"]),
    "mixed_3000": ("mixed, 3,000 steps", [*MIXED, "--steps", "3000"]),
    "mixed_wrn16": ("mixed, WRN-16-2", [*MIXED, "--depth", "16"]),
    "decoys_muted_beta0.1": ("muted decoys, beta 0.1", ["--decoys", "2", "4", "--beta", "0.1"]),
    "mixed_vgg": ("mixed, VGG-16-CIFAR", [*MIXED, *VGG]),
    "mixed_large": ("mixed, glyph scale 0.45-0.75", [*MIXED, "--scale", "0.45", "0.75"]),
    "decoys_muted_big": (
        "2-3 muted decoys as big as the glyph (0.25-0.4)",
        ["--decoys", "2", "3", "--decoy-scale", "0.25", "0.4"],
    ),
    # Second wave: a busy background and a flat glyph, to test whether the attention compresses the
    # features' range (low gain where block2's features are large: edges, high gain where they are flat).
    "tex60": ("blocky colour texture, std 60, 4 px blocks", ["--texture", "60"]),
    "tex60_c3": ("texture std 60, 3 px blocks", ["--texture", "60", "--texture-cell", "3"]),
    "tex60_c6": ("texture std 60, 6 px blocks", ["--texture", "60", "--texture-cell", "6"]),
    "tex35": ("texture std 35, 4 px blocks", ["--texture", "35"]),
    "tex100": ("texture std 100, 4 px blocks", ["--texture", "100"]),
    "tex60_muted": ("texture std 60, muted glyph colours", ["--texture", "60", "--glyph-colour", "muted"]),
    "muted": ("muted glyph colours, demo background", ["--glyph-colour", "muted"]),
    "strokes_vdense": ("20-35 strokes", ["--strokes", "20", "35"]),
    "tex60_beta0.001": ("texture std 60, beta 0.001", ["--texture", "60", "--beta", "0.001"]),
    "tex60_mixed": ("texture std 60 + 2-4 vivid blobs + 2-4 muted decoys", ["--texture", "60", *MIXED]),
    "tex60_strokes0": ("texture std 60, no strokes", ["--texture", "60", "--strokes", "0", "0"]),
    "tex60_small": ("texture std 60, glyph scale 0.2-0.4", ["--texture", "60", "--scale", "0.2", "0.4"]),
    "tex60_large": ("texture std 60, glyph scale 0.45-0.75", ["--texture", "60", "--scale", "0.45", "0.75"]),
}
WAVE2 = [
    "tex60",
    "tex60_c3",
    "tex60_c6",
    "tex35",
    "tex100",
    "tex60_muted",
    "muted",
    "strokes_vdense",
    "tex60_beta0.001",
    "tex60_mixed",
    "tex60_strokes0",
    "tex60_small",
    "tex60_large",
]
# Follow-ups of the best runs, once the list above is under way (see --followups).
FOLLOWUPS = {
    "seed1": ("seed 1", ["--seed", "1"]),
    "3000": ("3,000 steps", ["--steps", "3000"]),
    "beta0.001": ("beta 0.001", ["--beta", "0.001"]),
}
SMOKE = ["--steps", "20", "--pool-size", "256", "--test-size", "200"]
TARGETS = {"accuracy": 0.95, "max_in_box": 0.9, "inside_outside_ratio": 1.5, "stochastic_gap": 0.005}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+", help="configuration names (default: all, in order)")
    parser.add_argument("--wave", type=int, choices=[1, 2], help="only the first (issue hypotheses) or second wave")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="arguments added to every run")
    parser.add_argument("--smoke", action="store_true", help="tiny runs, to check the machinery")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once")
    parser.add_argument("--render-workers", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=1e9, help="seconds; runs still going then are stopped")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/demo-sweep-cache"), help="pool cache")
    parser.add_argument("--work", type=Path, default=Path("/tmp/demo-sweep-work"), help="checkpoints, removed at the end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--followups",
        type=int,
        default=0,
        help="when every listed run has started, add the follow-ups of this many best runs so far",
    )
    return parser.parse_args()


def rank(row: dict) -> float:
    """How promising a finished run is: its ratio, if it classifies and points well enough."""
    if "failed" in row or row["accuracy"] < 0.95 or row["max_in_box"] < 0.8:
        return -1.0
    return row["inside_outside_ratio"]


def run_arguments(args: argparse.Namespace, extra: list[str]) -> list[str]:
    return [*RECIPE, *extra, *(SMOKE if args.smoke else []), *args.extra, "--seed", str(args.seed)]


def pools_of(run_args: list[str]) -> list[tuple]:
    """The (design, count, seed) pools a run reads: its training pools, its test set, the default test set."""
    parsed = tdm.parse_args(run_args)
    design = tdm.scene_design(parsed)
    pools = [(design, parsed.test_size, 10_000 + parsed.seed)]
    pools += [(design, parsed.pool_size, seed) for seed in tdm.epoch_seeds(parsed)]
    if design != DEFAULT_DESIGN:
        pools.append((DEFAULT_DESIGN, parsed.test_size, 10_000 + parsed.seed))
    return pools


def render(task: tuple) -> tuple:
    design, count, seed, cache = task
    import cv2

    cv2.setNumThreads(1)
    started = time.perf_counter()
    tdm.render_pool(design, count, seed, cache)
    return task[:3], time.perf_counter() - started


def summary(name: str, change: str, metrics: dict) -> dict:
    def row(m: dict) -> dict:
        return {
            "accuracy": m["accuracy_deterministic"],
            "stochastic_accuracy": m["accuracy_stochastic_num_avg_4"],
            "max_in_box": round(m["attention_max_in_box"], 4),
            "chance": round(m["chance_max_in_box"], 4),
            "inside_outside_ratio": round(m["attention_inside_outside_ratio"], 4),
            "mass_in_box": round(m["attention_mass_in_box"], 4),
            "profile": m["attention_profile"],
            "anchors_used": len(m["anchors_used"]),
        }

    out = {"run": name, "change": change, **row(metrics)}
    out["meets_targets"] = meets(out)
    if "default_scenes" in metrics:
        out["default_scenes"] = row(metrics["default_scenes"])
        out["default_scenes"]["meets_targets"] = meets(out["default_scenes"])
    training = metrics["training"]
    out.update(anchors=training["qt_num"], train_seconds=training["train_seconds"], trained_on=training["trained_on"])
    return out


def meets(row: dict) -> bool:
    return (
        row["accuracy"] >= TARGETS["accuracy"]
        and row["max_in_box"] >= TARGETS["max_in_box"]
        and row["inside_outside_ratio"] >= TARGETS["inside_outside_ratio"]
        and abs(row["accuracy"] - row["stochastic_accuracy"]) <= TARGETS["stochastic_gap"]
    )


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    out = args.out
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    cache, work = args.cache, args.work
    cache.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "maps", "runs"):  # many small files: kept beside the checkpoints, maps gathered into one file
        (work / sub).mkdir(parents=True, exist_ok=True)
    names = args.only or list(CONFIGS)
    if args.wave == 2:
        names = WAVE2
    elif args.wave == 1:
        names = [name for name in CONFIGS if name not in WAVE2]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configurations: {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    runs = {name: run_arguments(args, CONFIGS[name][1]) for name in names}
    needs = {name: pools_of(run_args) for name, run_args in runs.items()}
    tasks, seen = [], set()
    for name in names:  # in configuration order, so the first runs can start first
        for pool in needs[name]:
            if pool not in seen and not tdm.pool_path(cache, *pool).exists():
                seen.add(pool)
                tasks.append((*pool, cache))
    print(json.dumps({"event": "start", "runs": names, "pools_to_render": len(tasks), "device": args.device}), flush=True)
    context = multiprocessing.get_context("fork")
    workers = context.Pool(max(1, args.render_workers))
    for task in tasks:
        workers.apply_async(render, (task,))
    followed = False
    waiting, running, results = list(names), {}, []
    results_file = out / "results.jsonl"
    while waiting or running or (args.followups and not followed):
        elapsed = time.perf_counter() - started
        for name, (process, began, log) in list(running.items()):
            code = process.poll()
            if code is None and elapsed < args.deadline:
                continue
            if code is None:
                process.kill()
                process.wait()
                code = "stopped at the deadline"
            log.close()
            del running[name]
            path = work / "runs" / f"{name}.json"
            if code == 0 and path.exists():
                row = summary(name, CONFIGS[name][0], json.loads(path.read_text()))
                row["command"] = "scripts/train_demo_model.py " + " ".join(runs[name])
                row["wall_seconds"] = round(time.perf_counter() - began, 1)
                if row["meets_targets"] and len(list((out / "ckpt").glob("*.pth"))) < 3:
                    for checkpoint in (work / name).glob("*.pth"):
                        if checkpoint.stat().st_size < 20e6:
                            shutil.copy(checkpoint, out / "ckpt" / f"{name}-{checkpoint.name}")
            else:
                tail = (work / "logs" / f"{name}.log").read_text(errors="replace")[-600:]
                row = {"run": name, "change": CONFIGS[name][0], "failed": str(code), "log_tail": tail}
            row["finished_at_s"] = round(time.perf_counter() - started, 1)
            results.append(row)
            print(json.dumps(row), flush=True)
            with results_file.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
        if not waiting and not followed and args.followups:
            followed = True
            best = sorted((r for r in results if rank(r) > 0), key=rank, reverse=True)[: args.followups]
            if not best:  # nothing good finished yet: follow the first listed runs
                best = [{"run": name} for name in names[: args.followups]]
            for row in best:
                base_name = row["run"]
                for suffix, (what, extra) in FOLLOWUPS.items():
                    name = f"{base_name}__{suffix}"
                    CONFIGS[name] = (f"{CONFIGS[base_name][0]}; {what}", [*CONFIGS[base_name][1], *extra])
                    runs[name] = [*runs[base_name], *extra]
                    needs[name] = pools_of(runs[name])
                    for pool in needs[name]:
                        if pool not in seen and not tdm.pool_path(cache, *pool).exists():
                            seen.add(pool)
                            workers.apply_async(render, ((*pool, cache),))
                    waiting.append(name)
            print(json.dumps({"event": "followups", "runs": waiting}), flush=True)
        if elapsed >= args.deadline:
            for name in waiting:
                row = {"run": name, "change": CONFIGS[name][0], "failed": "not started before the deadline"}
                print(json.dumps(row), flush=True)
                with results_file.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
            waiting = []
            break
        for name in list(waiting):
            if len(running) >= args.parallel:
                break
            if all(tdm.pool_path(cache, *pool).exists() for pool in needs[name]):
                waiting.remove(name)
                log = (work / "logs" / f"{name}.log").open("w")
                command = [
                    sys.executable,
                    str(SCRIPT),
                    *runs[name],
                    "--device",
                    args.device,
                    "--threads",
                    "1",
                    "--pool-cache",
                    str(cache),
                    "--output",
                    str(work / name),
                    "--json-out",
                    str(work / "runs" / f"{name}.json"),
                    "--maps-out",
                    str(work / "maps" / f"{name}.npz"),
                ]
                running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), time.perf_counter(), log)
        time.sleep(0.5)
    workers.terminate()
    gathered = {}
    for path in sorted((work / "maps").glob("*.npz")):
        with np.load(path) as data:
            gathered.update({f"{path.stem}/{key}": data[key] for key in data.files})
    np.savez_compressed(out / "maps.npz", **gathered)
    full = {path.stem: json.loads(path.read_text()) for path in sorted((work / "runs").glob("*.json"))}
    (out / "runs.json").write_text(json.dumps(full, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "event": "done",
                "seconds": round(time.perf_counter() - started, 1),
                "met_targets": [r["run"] for r in results if r.get("meets_targets")],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

"""Checkpoint files in the layouts the paper's code writes, built from conformance cases.

.venv/bin/python -m tests.helpers.checkpoint_files CASE FILE.pth
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import torch

from .conformance_weights import make_state_dict

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = json.loads((DATA / "cases.json").read_text())
# One conformance case per model family, quantized where the family has it (its graph holds the snap too).
FAMILY_CASES = ("vgg_aib_qt_cifar100", "wrn_aib_qt_16_4_cifar100", "cub_vgg16_aib_qt", "cub_wrn50_2_aib_qt")


def case_group(name: str) -> str:
    """The pytest-xdist group of a conformance case's tests (tests/conftest.py): its weights are drawn and its
    model exported once, on that group's worker."""
    return f"conformance-{name}"


def case_manifest(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def case_state_dict(name: str) -> dict[str, torch.Tensor]:
    return dict(_drawn_state_dict(name))  # a dict of its own: callers may add or drop keys


@functools.cache  # drawn once per worker: CUB WRN-50-2's weights take 6 s to draw
def _drawn_state_dict(name: str) -> dict[str, torch.Tensor]:
    case = case_manifest(name)
    arrays = make_state_dict(case["state_dict"], case["seed"], case["gain"])
    tensors, seen = {}, set()
    for key, value in arrays.items():  # an alias gets a copy of its own; the rest are wrapped, not copied (2 s)
        tensors[key] = torch.from_numpy(value.copy() if id(value) in seen else value)
        seen.add(id(value))
    return tensors


def case_reference(name: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"{name}.npz") as data:
        return dict(data)


def prefixed(state_dict: dict, prefix: str) -> dict:
    return {prefix + key: value for key, value in state_dict.items()}


def vgg_cifar_layout(state_dict: dict, dataset: str = "CIFAR10") -> dict:
    """VGG-backbone-32 solver layout: DataParallel keys under model_states['net']."""
    return {
        "epoch": 200,
        "args": argparse.Namespace(dataset=dataset, K=256, qt_num=20, lr=0.1),
        "model_states": {"net": prefixed(state_dict, "module.")},
        "optim_states": {"optim": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}},
        "test_acc": np.float64(93.5),
        "test_loss": 0.25,
    }


def wrn_cifar_layout(state_dict: dict, dataparallel: bool = True) -> dict:
    """WRN-backbone-32 layout: state_dict with `module.` keys when trained on GPUs."""
    return {
        "epoch": 200,
        "state_dict": prefixed(state_dict, "module.") if dataparallel else dict(state_dict),
        "acc": 95.1,
        "best_acc": 95.3,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        "amp": {"loss_scaler0": {"loss_scale": 65536.0, "unskipped": 0}},
    }


def cub_layout(state_dict: dict, ema_state_dict: dict | None = None) -> dict:
    """CUB-experiments solver layout: plain keys, `net` and `net_ema` weights."""
    return {
        "iter": 12000,
        "epoch": 60,
        "history": {"acc": 0.81, "epoch": 55, "iter": 11000},
        "args": argparse.Namespace(dataset="cub", K=256, beta=0.01),
        "model_states": {"net": dict(state_dict), "net_ema": dict(ema_state_dict or state_dict)},
        "optim_states": {"optim": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]}},
    }


def original_layout(name: str, state_dict: dict) -> dict:
    family = CASES[name]["family"]
    if family == "vgg_cifar":
        return vgg_cifar_layout(state_dict, dataset="CIFAR100" if CASES[name]["num_classes"] == 100 else "CIFAR10")
    if family == "wrn_cifar":
        return wrn_cifar_layout(state_dict)
    return cub_layout(state_dict)


def write_case_checkpoint(name: str, path: Path) -> Path:
    torch.save(original_layout(name, case_state_dict(name)), path)
    return path


if __name__ == "__main__":
    import sys

    case, target = sys.argv[1:3]
    print(f"wrote {write_case_checkpoint(case, Path(target))} ({CASES[case]['family']} layout, case {case})")

"""Reading the paper's checkpoint files safely and turning them into models and model cards.

The paper's code writes three layouts (see the README's checkpoint section):
`{'model_states': {'net', ['net_ema']}, 'args', ...}` (VGG-CIFAR, CUB),
`{'state_dict', 'acc', ...}` (WRN-CIFAR) and, for convenience, a bare state
dict. Files are read with `torch.load(weights_only=True)` and a short
allow-list, so a checkpoint can never run code while it is read.
"""

from __future__ import annotations

import argparse
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..card.architecture import Architecture
from ..card.model_card import WEIGHT_CHOICES, ModelCard
from ..card.presets import resolve_preprocessing
from ..errors import AibError
from ..files import file_sha256
from . import MODEL_FAMILIES, AibNet, build_model, family_filter, infer_architecture

DATAPARALLEL_PREFIX = "module."
# Objects the paper's checkpoints pickle beside the weights; none runs code when rebuilt.
# numpy scalars are pickled under numpy.core (numpy 1) or numpy._core (numpy 2).
_NUMPY_SCALAR = np.dtype("float64").type(0).__reduce__()[0]
SAFE_GLOBALS = [
    argparse.Namespace,
    np.dtype,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    (_NUMPY_SCALAR, "numpy._core.multiarray.scalar"),
    *(type(np.dtype(name)) for name in ("float64", "float32", "int64", "int32", "bool")),
]
MAX_LISTED = 12
BATCH_COUNTER = "num_batches_tracked"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL_OPCODE = 0x80


@dataclass
class Checkpoint:
    """Weights and facts read from one checkpoint file."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    layout: str
    weights: str
    sha256: str
    args: dict = field(default_factory=dict)


@dataclass
class LoadedModel:
    model: AibNet
    arch: Architecture
    checkpoint: Checkpoint


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED])
    return shown + (f", ... ({len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else "")


def _check_magic(path: Path) -> None:
    with open(path, "rb") as stream:
        head = stream.read(4)
    if not head:
        raise AibError(f"checkpoint {path}: file is empty")
    if not head.startswith(ZIP_MAGIC) and head[0] != PICKLE_PROTOCOL_OPCODE:
        raise AibError(f"checkpoint {path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)")


def _unpickle(path: Path) -> object:
    _check_magic(path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(error))
        what = f"the object {blocked.group(1)!r}" if blocked else "pickle content outside the weights-only subset"
        raise AibError(
            f"checkpoint {path}: refused to load {what}; aib-deploy only reads tensors, plain containers "
            "and argparse.Namespace from a checkpoint and never runs code stored in it"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as error:
        reason = str(error).split(". ")[0] if isinstance(error, RuntimeError) else type(error).__name__
        raise AibError(f"checkpoint {path}: not a readable PyTorch checkpoint (truncated or corrupt?): {reason}") from None


def _select_weights(path: Path, content: object, weights: str) -> tuple[str, dict]:
    if not isinstance(content, dict):
        raise AibError(f"checkpoint {path}: expected a dict, got {type(content).__name__}")
    if isinstance(content.get("model_states"), dict):
        states = content["model_states"]
        if weights not in states:
            raise AibError(f"checkpoint {path}: no {weights!r} weights; model_states holds {_listing(sorted(states))}")
        return "model_states", states[weights]
    if weights != "net":
        raise AibError(f"checkpoint {path}: --weights {weights} needs a model_states layout; this file has one set of weights")
    if isinstance(content.get("state_dict"), dict):
        return "state_dict", content["state_dict"]
    if content and all(isinstance(value, torch.Tensor) for value in content.values()):
        return "bare", content
    raise AibError(
        f"checkpoint {path}: no model weights found; expected key 'model_states' (VGG-CIFAR/CUB layout), "
        f"'state_dict' (WRN layout) or a bare state dict, got keys {_listing(sorted(map(str, content)))}"
    )


def clean_state_dict(state_dict: dict) -> dict[str, torch.Tensor]:
    """Strip the `module.` prefix DataParallel adds and keep tensors only."""
    return {
        (key[len(DATAPARALLEL_PREFIX) :] if key.startswith(DATAPARALLEL_PREFIX) else key): value
        for key, value in state_dict.items()
        if isinstance(value, torch.Tensor)
    }


def read_checkpoint(path: str | Path, weights: str = "net") -> Checkpoint:
    """Read a checkpoint file without building a model."""
    path = Path(path)
    if weights not in WEIGHT_CHOICES:
        raise AibError(f"--weights: expected one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    if not path.is_file():
        raise AibError(f"checkpoint {path}: file not found")
    content = _unpickle(path)
    layout, raw = _select_weights(path, content, weights)
    args = content.get("args")
    return Checkpoint(
        path=path,
        state_dict=clean_state_dict(raw),
        layout=layout,
        weights=weights,
        sha256=file_sha256(path),
        args=vars(args) if isinstance(args, argparse.Namespace) else {},
    )


def fill_aliases(state_dict: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copy a tensor stored under one name of a shared module to its other names.

    The original models reach some modules by two names (WRN's `block3` is also
    `encode.0`); a checkpoint that stored only one of them still loads.
    """
    groups: dict[int, list[str]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(tensor), []).append(name)
    filled = dict(state_dict)
    # Checkpoints from PyTorch < 0.4.1 have no batch-norm counters; eval mode never reads them.
    for name, tensor in model.state_dict().items():
        if name.endswith(BATCH_COUNTER) and name not in filled:
            filled[name] = tensor
    for names in groups.values():
        present = [name for name in names if name in filled]
        for name in names:
            if present and name not in filled:
                filled[name] = filled[present[0]]
    return filled


def check_state_dict(path: Path, state_dict: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    """Fail with one line naming missing and unexpected keys, or mismatched shapes."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    mismatched = [
        f"{key} expected {tuple(expected[key].shape)} got {tuple(state_dict[key].shape)}"
        for key in expected
        if key in state_dict and state_dict[key].shape != expected[key].shape
    ]
    if mismatched:
        problems.append(f"shape mismatch: {_listing(mismatched)}")
    if problems:
        raise AibError(f"checkpoint {path}: does not fit the inferred architecture; " + "; ".join(problems))


def load_model(path: str | Path, weights: str = "net") -> LoadedModel:
    """Read a checkpoint, infer its architecture and return the model with its weights, in eval mode."""
    checkpoint = read_checkpoint(path, weights)
    arch = infer_architecture(checkpoint.state_dict)
    if arch is None:
        raise AibError(
            f"checkpoint {checkpoint.path}: unknown architecture; its keys match no AIB family "
            f"({', '.join(MODEL_FAMILIES.names())}); first keys: {_listing(list(checkpoint.state_dict))}"
        )
    model = build_model(arch)
    state_dict = fill_aliases(checkpoint.state_dict, model)
    remap = family_filter(arch)
    if remap is not None:
        state_dict = remap(state_dict, model)
    check_state_dict(checkpoint.path, state_dict, model)
    model.load_state_dict(state_dict, strict=True)
    return LoadedModel(model=model.eval(), arch=arch, checkpoint=checkpoint)


def card_from_checkpoint(
    loaded: LoadedModel,
    dataset: str | None = None,
    labels: tuple[str, ...] | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> ModelCard:
    """The card of a loaded checkpoint: presets for its family and dataset, then the explicit overrides."""
    arch = loaded.arch
    preprocessing = resolve_preprocessing(
        arch.family,
        arch.num_classes,
        dataset=dataset,
        dataset_hint=str(loaded.checkpoint.args.get("dataset", "")) or None,
        mean=mean,
        std=std,
        labels=labels,
    )
    anchors = None
    if arch.quantized:
        anchors = tuple(float(value) for value in loaded.model.emb.anchors.detach())
    return ModelCard(
        architecture=arch,
        dataset=preprocessing.dataset,
        labels=preprocessing.labels,
        mean=preprocessing.mean,
        std=preprocessing.std,
        anchors=anchors,
        checkpoint_sha256=loaded.checkpoint.sha256,
        checkpoint_weights=loaded.checkpoint.weights,
        aib_deploy_version=__version__,
    )

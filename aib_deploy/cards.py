"""Model cards for checkpoints: presets, then the user's explicit overrides."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import AibError
from .modelcard import ModelCard
from .presets import resolve_preprocessing

if TYPE_CHECKING:
    from .checkpoint import LoadedModel


def read_labels(path: str | Path | None) -> tuple[str, ...] | None:
    """One label per line; blank lines are skipped."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AibError(f"--labels {path}: cannot read ({error.__class__.__name__}: {error})") from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def card_from_checkpoint(
    loaded: LoadedModel,
    dataset: str | None = None,
    labels: tuple[str, ...] | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> ModelCard:
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

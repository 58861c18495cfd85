"""`aib export ...` commands: argument parsing lives in the CLI, work here."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import AibError
from ..modelcard import ModelCard
from ..presets import resolve_preprocessing

if TYPE_CHECKING:
    from ..checkpoint import LoadedModel


def read_labels(path: str | None) -> tuple[str, ...] | None:
    """One label per line; blank lines are skipped."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AibError(f"--labels {path}: cannot read ({error.__class__.__name__}: {error})") from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def model_card_for(loaded: LoadedModel, args: argparse.Namespace) -> ModelCard:
    """The card of a loaded checkpoint: presets, then the user's explicit overrides."""
    arch = loaded.arch
    preprocessing = resolve_preprocessing(
        arch.family,
        arch.num_classes,
        dataset=args.dataset,
        dataset_hint=str(loaded.checkpoint.args.get("dataset", "")) or None,
        mean=tuple(args.mean) if args.mean else None,
        std=tuple(args.std) if args.std else None,
        labels=read_labels(args.labels),
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


def export_onnx_command(args: argparse.Namespace) -> None:
    from ..checkpoint import load_model
    from .onnx_export import PARITY_BATCHES, check_onnx, compare_with_pytorch, export_onnx

    started = time.perf_counter()
    loaded = load_model(args.checkpoint, args.weights)
    card = model_card_for(loaded, args)
    print(
        f"checkpoint {args.checkpoint}: {loaded.arch.name}, {loaded.arch.num_classes} classes, "
        f"K={loaded.arch.K}, layout {loaded.checkpoint.layout}, weights {loaded.checkpoint.weights}, "
        f"dataset {card.dataset}"
    )
    output = Path(args.output)
    export_onnx(loaded, card, output, args.opset, args.max_batch)
    check_onnx(output)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opset {args.opset}); onnx.checker full check passed")
    failures = []
    for batch, comparison in compare_with_pytorch(output, loaded.model, card, list(PARITY_BATCHES)):
        verdict = "ok" if comparison.passed else "FAILED"
        print(f"parity batch {batch}: {verdict}: {comparison.summary()}")
        if not comparison.passed:
            failures.append(batch)
    print(f"export took {time.perf_counter() - started:.1f} s")
    if failures:
        raise AibError(
            f"{output}: ONNX Runtime disagrees with PyTorch at batch sizes {failures} (see above); "
            "the file is kept for inspection but should not be deployed"
        )

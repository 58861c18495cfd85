"""Export an AIB model's deterministic inference path to ONNX, then prove it.

The file follows the ONNX contract of `aib_deploy.contract`; serving, the
engine builder and Triton rely on it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..card.model_card import ModelCard
from ..compare import Comparison, Tolerances, compare_outputs
from ..contract import BATCH_DIM, INPUT_NAME, MIN_OPSET, MODEL_CARD_KEY, output_names
from ..errors import AibError, OptionError
from ..models import AibNet
from ..models.checkpoint import LoadedModel, card_from_checkpoint, load_model
from .onnx_options import OnnxExportOptions

DEFAULT_TOLERANCES = Tolerances()

TRACE_BATCH = 2
PARITY_BATCHES = (1, 3)  # both differ from TRACE_BATCH, so a frozen batch size fails
# Fold every constant expression, however large: it drops the unused scale half
# of the encoder's last layer from the file instead of slicing it at run time.
FOLD_LIMIT = 1 << 31


class DeploymentGraph(nn.Module):
    """The deterministic path with the contract's outputs and types."""

    def __init__(self, model: AibNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model.deterministic(images)
        if outputs.anchor_index is None:
            return outputs.logits, outputs.attention
        return outputs.logits, outputs.attention, outputs.anchor_index.to(torch.int32)


@dataclass(frozen=True)
class ExportedModel:
    loaded: LoadedModel
    card: ModelCard
    path: Path


@contextlib.contextmanager
def quiet_exporter():
    """Silence the exporter's progress lines and deprecation chatter; errors still raise."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]  # onnxscript: its version converter
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_onnx(loaded: LoadedModel, card: ModelCard, output: Path, opset: int, max_batch: int) -> ModelCard:
    """Trace, optimise and write the ONNX file with its model card; return the card as written."""
    import onnx
    import onnxscript.optimizer

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise OptionError(
            f"--opset: expected {MIN_OPSET} to {newest} (the newest this onnx {onnx.__version__} knows), got {opset}"
        )
    if max_batch < 1:
        raise OptionError(f"--max-batch: expected a positive batch size, got {max_batch}")
    card = replace(card, opset=opset, max_batch=max_batch)
    size = card.input_size
    example = torch.zeros(TRACE_BATCH, 3, size, size)
    batch = torch.export.Dim(BATCH_DIM, min=1, max=max(max_batch, TRACE_BATCH))
    with quiet_exporter(), torch.no_grad():
        try:
            program = torch.onnx.export(
                DeploymentGraph(loaded.model).eval(),
                (example,),
                input_names=[INPUT_NAME],
                output_names=list(output_names(loaded.arch.quantized)),
                opset_version=opset,
                dynamo=True,
                dynamic_shapes={INPUT_NAME: {0: batch}},
            )
        except Exception as error:
            if interrupted(error):  # the exporter wraps a Ctrl-C in its own error; the CLI says "interrupted"
                raise KeyboardInterrupt from None
            raise
        onnxscript.optimizer.optimize(program.model, input_size_limit=FOLD_LIMIT, output_size_limit=FOLD_LIMIT)
    written = program.model.opset_imports.get("", None)
    if written != opset:  # the exporter falls back to its own opset when it cannot convert, and says so only in a log
        raise AibError(
            f"--opset {opset}: the exporter could not convert the model to it (it wrote opset {written}); try {MIN_OPSET}"
        )
    program.model.metadata_props[MODEL_CARD_KEY] = card.to_json()
    program.model.producer_name = "aib-deploy"
    program.model.producer_version = card.aib_deploy_version
    output.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(output), external_data=False)
    return card


def interrupted(error: BaseException) -> bool:
    """Whether an exception is, or was raised while handling, a KeyboardInterrupt (a few links deep)."""
    for _ in range(16):
        if error is None:
            return False
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False


def export_checkpoint(checkpoint: str | Path, output: Path, options: OnnxExportOptions | None = None) -> ExportedModel:
    """Load a checkpoint, build its card from the options (default: OnnxExportOptions()) and write the ONNX file."""
    options = options or OnnxExportOptions()
    loaded = load_model(checkpoint, options.weights)
    card = card_from_checkpoint(loaded, dataset=options.dataset, labels=options.labels, mean=options.mean, std=options.std)
    if options.extra:
        card = replace(card, extra={**card.extra, **options.extra})
    return ExportedModel(loaded, export_onnx(loaded, card, output, options.opset, options.max_batch), output)


def check_onnx(path: Path) -> None:
    """onnx.checker's full check (with shape inference); a failure is a bug, not a user error."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)


def parity_inputs(card: ModelCard, batch: int, seed: int) -> np.ndarray:
    """Uniform-noise images normalized with the card's mean and std."""
    rng = np.random.default_rng(seed)
    pixels = rng.random((batch, 3, card.input_size, card.input_size), dtype=np.float32)
    mean = np.asarray(card.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(card.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return (pixels - mean) / std


def compare_with_pytorch(
    path: Path, model: AibNet, card: ModelCard, batch_sizes: list[int], tolerances: Tolerances = DEFAULT_TOLERANCES
) -> list[tuple[int, Comparison]]:
    """Run ONNX Runtime (CPU) and the PyTorch model on the same inputs at each batch size."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = list(output_names(card.architecture.quantized))
    anchors = np.asarray(card.anchors) if card.anchors is not None else None
    results = []
    for seed, batch in enumerate(batch_sizes):
        images = parity_inputs(card, batch, seed)
        candidate = dict(zip(names, session.run(names, {INPUT_NAME: images})))
        with torch.no_grad():
            outputs = model.deterministic(torch.from_numpy(images))
        reference = outputs.as_arrays()
        comparison = compare_outputs(
            reference, candidate, tolerances, attention_mean=outputs.attention_mean.numpy(), anchors=anchors
        )
        results.append((batch, comparison))
    return results


def report_parity(path: Path, model: AibNet, card: ModelCard, label: str = "parity") -> list[tuple[int, Comparison]]:
    """Print one verdict line per parity batch size; return each batch size with its comparison."""
    results = compare_with_pytorch(path, model, card, list(PARITY_BATCHES))
    for batch, comparison in results:
        print(f"{label} batch {batch}: {'ok' if comparison.passed else 'FAILED'}: {comparison.summary()}")
    return results

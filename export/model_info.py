"""What a model file is, read without running it: `aib info`, as `polygraphy inspect model` or `yolo info`.

One description for the three kinds of file: an ONNX file (its graph's tensors, opset and card), an
engine (its sidecar; no TensorRT needed) and a checkpoint (the card `aib export onnx` would write, and
the tensors it would have; needs PyTorch).
"""

from __future__ import annotations

from pathlib import Path

from ..card.model_card import ModelCard, card_from_onnx
from ..contract import BATCH_DIM, ENGINE_SUFFIXES
from ..files import file_sha256
from ..protocol.signature import ModelSignature, TensorSpec
from ..runtime.loader import CHECKPOINT_SUFFIXES
from .sources import load_onnx

SCHEMA_VERSION = 1  # of `aib info --json`, aib_deploy/data/info.schema.json


def tensor_entry(name: str, dtype: str, shape: list[int | str]) -> dict:
    return {"name": name, "dtype": dtype, "shape": shape}


def signature_tensors(card: ModelCard, precision: str) -> tuple[list[dict], list[dict]]:
    """The contract's tensors for a card, as an exported file declares them (the batch dimension by name)."""
    signature = ModelSignature.of(card, precision)

    def entries(specs: list[TensorSpec]) -> list[dict]:
        return [tensor_entry(spec.name, spec.dtype, [BATCH_DIM, *spec.dims]) for spec in specs]

    return entries([signature.images]), entries(list(signature.outputs))


def graph_tensors(values) -> list[dict]:
    """An ONNX graph's inputs or outputs as they are declared: symbolic dims by name."""
    from onnx.helper import tensor_dtype_to_np_dtype

    entries = []
    for value in values:
        kind = value.type.tensor_type
        shape = [dim.dim_param or dim.dim_value for dim in kind.shape.dim]
        entries.append(tensor_entry(value.name, tensor_dtype_to_np_dtype(kind.elem_type).name, shape))
    return entries


def onnx_info(path: Path) -> tuple[ModelCard, dict, list[dict], list[dict]]:
    model = load_onnx(path, "aib info", external_data=False)
    card = card_from_onnx(model, source=f"model {path}")
    graph = model.graph
    details = {
        "opset": next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "nodes": len(graph.node),
        "initializers": len(graph.initializer),
    }
    return card, details, graph_tensors(graph.input), graph_tensors(graph.output)


def engine_info(path: Path) -> tuple[ModelCard, dict, list[dict], list[dict]]:
    from ..backends.tensorrt.sidecar import read_sidecar, sidecar_card, sidecar_precision

    sidecar = read_sidecar(path)
    card = sidecar_card(path, sidecar)
    details = {key: value for key, value in sidecar.items() if key != "model_card"}
    return card, details, *signature_tensors(card, sidecar_precision(sidecar))


def checkpoint_info(path: Path) -> tuple[ModelCard, dict, list[dict], list[dict]]:
    from ..models.checkpoint import card_from_checkpoint, load_model

    loaded = load_model(path)
    card = card_from_checkpoint(loaded)
    details = {
        "layout": loaded.checkpoint.layout,
        "weights": loaded.checkpoint.weights,
        "parameters": sum(parameter.numel() for parameter in loaded.model.parameters()),
    }
    return card, details, *signature_tensors(card, "fp32")


def model_info(path: Path) -> dict:
    """Everything `aib info` shows about MODEL, as one JSON-ready dict."""
    if path.suffix in ENGINE_SUFFIXES:
        kind, read = "engine", engine_info
    elif path.suffix in CHECKPOINT_SUFFIXES:
        kind, read = "checkpoint", checkpoint_info
    else:
        kind, read = "onnx", onnx_info
    card, details, inputs, outputs = read(path)
    precision = details.get("precision", card.precision) if kind == "engine" else card.precision
    return {
        "schema_version": SCHEMA_VERSION,
        "file": str(path),
        "format": kind,
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "precision": precision,
        "max_batch": card.batch_limit,
        "inputs": inputs,
        "outputs": outputs,
        kind: details,
        "quantization": card.extra.get("quantization"),
        "model_card": card.to_dict(),
    }

"""`aib info MODEL`: what a model file is, without running it (as `polygraphy inspect model`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .paths import ModelPath

SHOWN_LABELS = 8  # the text view lists the first labels; --json has them all


def add_info_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info",
        help="show what a model file is: card, tensors, precision, quantization report, engine sidecar",
        description="Reads an .onnx file, an engine's sidecar or a checkpoint (PyTorch needed) without running "
        "it: architecture, dataset and labels, normalization, anchors, inputs and outputs with types and "
        "shapes, precision and its agreement report with the gate, the file's sha256; for engines the "
        "TensorRT version, GPU and profile.",
    )
    parser.add_argument("model", type=ModelPath(), help="an .onnx file, an engine (.engine/.plan) or a checkpoint")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run_info)


def tensor_line(tensor: dict) -> str:
    return f"{tensor['name']} {tensor['dtype']} [{', '.join(map(str, tensor['shape']))}]"


def gate_text(gate: dict | None) -> str:
    """A recorded gate as --fail-under takes it: top1=0.99,index=0.95."""
    return ",".join(f"{key}={value:g}" for key, value in (gate or {}).items()) or "none"


def text_lines(info: dict) -> list[str]:
    card = info["model_card"]
    arch = card["architecture"]
    labels = card["labels"]
    shown = ", ".join(labels[:SHOWN_LABELS]) + (f", ... ({len(labels)} in all)" if len(labels) > SHOWN_LABELS else "")
    lines = [
        f"{info['file']}: {info['format']}, {info['bytes'] / 1e6:.1f} MB, sha256 {info['sha256']}",
        f"architecture: {arch['name']} ({arch['family']}, {arch['num_classes']} classes, K={arch['K']})",
        f"dataset: {card['dataset']}; labels: {shown}",
        f"input: {card['input']['height']}x{card['input']['width']} RGB, mean {card['mean']}, std {card['std']}",
        *[f"input {tensor_line(tensor)}" for tensor in info["inputs"]],
        *[f"output {tensor_line(tensor)}" for tensor in info["outputs"]],
        f"precision: {info['precision']}; batches up to {info['max_batch']}",
    ]
    anchors = card.get("anchors")
    if anchors:
        lines.append(f"anchors: {len(anchors)}, {min(anchors):.4f} to {max(anchors):.4f}")
    quantization = info.get("quantization")
    if quantization:
        agreement = quantization.get("agreement", {})
        lines.append(
            f"{quantization.get('precision', '')} report: {quantization.get('format', '')}; on "
            f"{agreement.get('frames', '?')} held-out frames top-1 agreement {agreement.get('top1', 0):.2%}, "
            f"anchor-index agreement {agreement.get('index_exact', 0):.2%}; gate {gate_text(quantization.get('gate'))}, "
            f"failures: {'; '.join(quantization.get('gate_failures') or []) or 'none'}"
        )
    details = info[info["format"]]
    lines.append(
        f"{info['format']}: " + ", ".join(f"{key} {value}" for key, value in details.items() if not isinstance(value, dict))
    )
    return lines


def run_info(args: argparse.Namespace) -> None:
    from ..export.model_info import model_info

    info = model_info(Path(args.model))
    print(json.dumps(info, indent=1) if args.json else "\n".join(text_lines(info)))

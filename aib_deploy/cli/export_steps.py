"""What several export commands share: default output names, the ONNX step from a checkpoint (alone, or
as the first of one-step exports), and the agreement gate."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from ..errors import AibError
from ..export.onnx_options import OnnxExportOptions
from ..runtime.compare import Agreement, Gate
from ..runtime.loader import CHECKPOINT_SUFFIXES
from .paths import ModelPath, refuse_overwriting


def output_path(args: argparse.Namespace, source: str, suffix: str) -> Path:
    """-o (its type checked it while parsing), else SOURCE's stem plus `suffix` beside it (model.onnx ->
    model.int8.onnx), as Ultralytics does."""
    source = Path(source)
    output = Path(args.output) if args.output else source.with_name(source.name.removesuffix(source.suffix) + suffix)
    refuse_overwriting({"-o": output}, {"MODEL": source})  # before any work, whatever the export
    return output


def export_with_parity(checkpoint: Path, output: Path, options: OnnxExportOptions) -> dict:
    """`aib export onnx`'s work: export, the full ONNX check, parity with PyTorch, each said in a line; what
    it wrote and measured, for --json. One line (after the document) when ONNX Runtime and PyTorch disagree."""
    from ..export.onnx_export import check_onnx, export_checkpoint, report_parity

    started = time.perf_counter()
    exported = export_checkpoint(checkpoint, output, options)
    arch, loaded = exported.loaded.arch, exported.loaded.checkpoint
    print(
        f"checkpoint {checkpoint}: {arch.name}, {arch.num_classes} classes, K={arch.K}, layout "
        f"{loaded.layout}, weights {loaded.weights}, dataset {exported.card.dataset}"
    )
    check_onnx(output)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, opset {options.opset}); onnx.checker full check passed")
    parity = report_parity(output, exported.loaded.model, exported.card)
    print(f"export took {time.perf_counter() - started:.1f} s", flush=True)
    return {
        "output": str(output),
        "bytes": output.stat().st_size,
        "opset": options.opset,
        "architecture": arch.name,
        "parity": [{"batch": batch, "passed": result.passed, "summary": result.summary()} for batch, result in parity],
    }


def check_parity(document: dict) -> None:
    """One line when the export's parity check failed at any batch size."""
    failed = [entry["batch"] for entry in document["parity"] if not entry["passed"]]
    if failed:
        raise AibError(
            f"{document['output']}: ONNX Runtime disagrees with PyTorch at batch sizes {failed} (see above); "
            "the file is kept for inspection but should not be deployed"
        )


def add_float32_source(parser: argparse.ArgumentParser) -> None:
    """MODEL of the commands that convert the float32 file (fp16, int8), which `onnx_source` makes from a
    checkpoint when given one."""
    parser.add_argument(
        "model",
        type=ModelPath(accepts=("checkpoint", "float32")),
        help="a float32 .onnx file written by `aib export onnx`, or a checkpoint (exported to CHECKPOINT.onnx first)",
    )


def onnx_source(model: str) -> Path:
    """MODEL, or for a checkpoint the float32 ONNX file exported from it first, beside it (CHECKPOINT.onnx),
    with `aib export onnx`'s defaults and parity check: one step from checkpoint to fp16, INT8, engine or
    Triton, as `yolo export format=engine` takes a .pt. A CHECKPOINT.onnx already there is used when its
    card names this checkpoint's sha256, and otherwise left alone with one line."""
    from ..card.model_card import card_from_onnx
    from ..export.sources import load_onnx
    from ..files import file_sha256

    path = Path(model)
    if path.suffix not in CHECKPOINT_SUFFIXES:
        return path
    onnx_path = path.with_name(path.name.removesuffix(path.suffix) + ".onnx")
    if onnx_path.exists():
        proto = load_onnx(onnx_path, "aib export", external_data=False)
        card = card_from_onnx(proto, source=f"model {onnx_path}")
        if card.checkpoint_sha256 != file_sha256(path) or card.precision != "fp32":
            raise AibError(
                f"{onnx_path}: already there and not the float32 export of {path.name}; remove it, or export "
                f"with `aib export onnx {path} -o OTHER.onnx` and give that file"
            )
        print(f"using {onnx_path}, exported from {path.name} before", flush=True)
        return onnx_path
    check_parity(export_with_parity(path, onnx_path, OnnxExportOptions()))
    return onnx_path


def gate_text(text: str) -> str:
    """argparse's type for --fail-under: the gate checked while parsing (one line, exit 2), kept as text."""
    try:
        Gate.parse(text)
    except AibError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--fail-under: ")) from None
    return text


def add_gate_option(parser: argparse.ArgumentParser) -> None:
    default = Gate().describe()
    parser.add_argument(
        "--fail-under",
        type=gate_text,
        default=default,
        help=f"exit 1 when held-out agreement falls below these shares (default {default}); the file "
        "and its report are written either way",
    )


def check_gate(output: Path, gate: Gate, failures: list[str]) -> None:
    if failures:
        raise AibError(
            f"{output}: below the gate (--fail-under {gate.describe()}): {'; '.join(failures)}; the file "
            "and its report in the model card were written"
        )


def written_file(output: Path, precision: str, agreement: Agreement, gate: Gate, failures: list[str]) -> dict:
    """What `aib export fp16` and `int8` report with --json: the file, its agreement with the float32 one, the gate."""
    return {
        "output": str(output),
        "bytes": output.stat().st_size,
        "precision": precision,
        "agreement": asdict(agreement),
        "gate": gate.describe(),
        "gate_failures": failures,
    }

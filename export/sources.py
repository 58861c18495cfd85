"""What a conversion starts from: an ONNX file `aib export onnx` wrote, and for fp16 and INT8 its float32 one.

Every wrong source is one line that says what the file is and what to run
instead: a checkpoint, an engine, a folder, a file that is not ONNX, or a file
already in fp16 or INT8 (converting one again would stack a second round of
casts or Q/DQ nodes on the first).
"""

from __future__ import annotations

from pathlib import Path

from ..backends.graph_regions import file_precision
from ..card.model_card import card_from_onnx
from ..contract import ENGINE_SUFFIXES
from ..errors import AibError
from ..runtime.loader import CHECKPOINT_SUFFIXES


def check_onnx_path(path: Path, command: str) -> None:
    """One line when `path` cannot be the ONNX file `command` (`aib export fp16`, ...) takes, judged
    without reading it."""
    if path.is_dir():
        raise AibError(f"model {path}: a folder; {command} takes the .onnx file that aib export onnx wrote")
    if not path.is_file():
        raise AibError(f"model {path}: file not found")
    if path.suffix in CHECKPOINT_SUFFIXES:
        raise AibError(
            f"model {path}: a PyTorch checkpoint; export it first (aib export onnx {path} -o MODEL.onnx), "
            f"then run {command} MODEL.onnx"
        )
    if path.suffix in ENGINE_SUFFIXES:
        raise AibError(f"model {path}: a TensorRT engine; {command} takes the .onnx file it was built from")


def load_onnx(path: Path, command: str, external_data: bool = True):
    """The ModelProto of `path`, or one line saying why it is not one."""
    import onnx

    check_onnx_path(path, command)
    try:
        return onnx.load(str(path), load_external_data=external_data)
    except Exception as error:  # noqa: BLE001 - onnx raises DecodeError and others for files that are not ONNX
        raise AibError(f"model {path}: not an ONNX file ({type(error).__name__})") from None


def float32_source(path: Path, command: str):
    """The float32 model at `path` and its card; one line for anything else."""
    model = load_onnx(path, command)
    card = card_from_onnx(model, source=f"model {path}")
    precision = card.precision if card.precision != "fp32" else file_precision(model)
    if precision != "fp32":
        raise AibError(f"model {path}: already {precision}; {command} converts the float32 file that aib export onnx wrote")
    return model, card

"""`aib export fp16`: a mixed-precision ONNX file whose own types decide the precision.

float16 for the backbone and the attention head's convolutions; float32 from
the attention logits on: one Cast takes the logits into float32, and the
sigmoid, the squared distances to the anchors, ArgMin, the anchor table and
Gather stay float32 up to the `attention` output, so every attention value is
an entry of the card's float32 anchor table. The graph's inputs and outputs
keep the contract's types (float32 `images`, `logits`, `attention`; int32
`attention_index`).

The bulk of the work is ONNX Runtime's maintained float16 converter
(`onnxruntime.transformers.float16`) with a node block list. Its output is
then sorted, typed again and rid of the float32 -> float16 -> float32 round
trips it puts around every blocked node (`graph_cleanup`), so the file passes
ONNX's full check. A strongly typed TensorRT build of this file is an fp16
engine; ONNX Runtime's CPU provider runs it too, which is how its agreement is
measured here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..backends.graph_regions import float32_nodes
from ..backends.onnxrt import OnnxrtRunner
from ..errors import AibError
from ..files import written_whole
from ..progress import Progress
from ..runtime.compare import Agreement, Gate, measure_agreement
from ..runtime.preprocess import Preprocessor
from .agreement import set_card
from .calibration import SYNTHETIC, check_frames
from .graph_cleanup import inferred, without_redundant_casts
from .sources import float32_source


@dataclass(frozen=True)
class Fp16Options:
    """What `aib export fp16` takes besides the two files; `export_fp16` takes the same object."""

    frames: str = SYNTHETIC
    held_out: int = 512
    threads: int | None = None
    fail_under: Gate = field(default_factory=Gate)
    progress: bool = True  # a progress bar on stderr over the agreement check


@dataclass
class Fp16Export:
    float32_nodes: int
    held_out_frames: int
    agreement: Agreement
    gate_failures: list[str]


def convert_to_fp16(model, keep_float32: list[str]):
    """The float16 model, `keep_float32` nodes (and the initializers only they read) in float32, with no
    Cast between two of them. `model` is converted in place: the converter is handed it already typed (our
    inference skips the weights' bytes), not left to copy and type it again."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    typed_model = inferred(model, strict=False)  # what the converter's own inference would give
    return without_redundant_casts(
        convert_float_to_float16(typed_model, keep_io_types=True, node_block_list=keep_float32, disable_shape_infer=True)
    )


def export_fp16(source: Path, output: Path, options: Fp16Options = Fp16Options()) -> Fp16Export:
    """Convert, check agreement with the float32 file on held-out frames, write the card; the file
    appears whole at the end, or not at all."""
    import onnx

    if source.resolve() == output.resolve():
        raise AibError(f"{output}: the fp16 file must not overwrite its float32 model")
    model, card = float32_source(source, "aib export fp16")
    frames = check_frames(options.frames, options.held_out)
    keep = float32_nodes(model)
    with written_whole(output) as partial:
        converted = convert_to_fp16(model, keep)
        onnx.save(converted, str(partial))
        with (
            OnnxrtRunner(source, device="cpu", intra_op_threads=options.threads) as reference,
            OnnxrtRunner(partial, device="cpu", intra_op_threads=options.threads) as candidate,
            Progress(2 * len(frames), what="agreement frames", enabled=options.progress) as progress,
        ):
            images = Preprocessor(card.input_size, card.mean, card.std).batch(frames)
            agreement = measure_agreement(reference, candidate, images, card, progress)
        failures = options.fail_under.failures(agreement)
        record = {
            "precision": "fp16",
            "format": "float16 with a float32 anchor snap",
            "float32_nodes": len(keep),
            "check_frames": options.frames,
            "agreement": asdict(agreement),
            "gate": asdict(options.fail_under),
            "gate_failures": failures,
        }
        set_card(converted, replace(card, extra={**card.extra, "quantization": record}))
        onnx.save(converted, str(partial))  # the converted model is still in memory: no second read of the file
    return Fp16Export(len(keep), len(frames), agreement, failures)

"""Explicit INT8 quantization (Q/DQ nodes) with ONNX Runtime's tools; the attention stays float.

The file uses symmetric int8 activations (zero point 0) and per-channel int8
weights in QDQ form: ONNX Runtime fuses it into integer kernels on CPUs, and
TensorRT reads it as explicit quantization, so one file serves both.

Which nodes stay float32 is a trade between speed and how often an anchor
index differs from the float model; the anchor snap and its table are float
in every choice (quantizing the table would move every anchor value):
- `attention-path`: every node the attention map depends on; the map and its
  indices match the float model exactly, only the classifier after it is int8;
- `head`: the attention head and the snap; the backbone in front of the head is
  int8 too, which is faster, and some cells near the midpoint between two
  anchors move to the neighbouring anchor;
- `auto` (accuracy-driven, as Intel Neural Compressor tunes): the first k
  nodes of the attention path go to int8, with k as large as keeps the exact
  anchor-index agreement on the calibration frames at or above a target;
  `head` when even the whole path in int8 meets it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..backends.base import Runner
from ..backends.graph_regions import FIXED_REGIONS, float_nodes
from ..backends.onnxrt import OnnxrtRunner
from ..card.model_card import ModelCard
from ..contract import INPUT_NAME
from ..errors import AibError, OptionError
from ..files import written_whole
from ..progress import Progress
from ..runtime.compare import Agreement, Gate, measure_agreement
from ..runtime.preprocess import Preprocessor
from ..timing import time_calls
from .agreement import write_card
from .calibration import calibration_split
from .qdq import reconnect_float
from .sources import float32_source

FLOAT_REGIONS = ("auto", *FIXED_REGIONS)
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
CALIBRATION_BATCH = 16
LATENCY_WARMUP, LATENCY_RUNS = 5, 30  # batch-1 calls of each file: untimed, then timed
# Ops whose parameters stay float32 and whose inputs read float tensors: TensorRT folds a BatchNormalization
# into the convolution before it (the exporter already has, wherever a Conv -> BN pair allowed it) or runs it
# as a scale layer; a quantized BN scale or a Q/DQ in front of it stops that fusion.
FLOAT_OPS = ("BatchNormalization",)


@contextlib.contextmanager
def quiet_quantizer():
    """The quantizer logs advice (pre-processing, per-channel axes of 1-D weights) as root warnings."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_int8(source: Path, output: Path, calibration: np.ndarray, method: str, keep_float: list[str]) -> None:
    """Write the Q/DQ model calibrated on `calibration` (preprocessed NCHW), `keep_float` nodes in float32."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    model = onnx.load(str(source))
    keep_float = [*keep_float, *(node.name for node in model.graph.node if node.op_type in FLOAT_OPS)]

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration[i : i + CALIBRATION_BATCH] for i in range(0, len(calibration), CALIBRATION_BATCH))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with quiet_quantizer():
        quantize_static(
            model,
            str(output),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
            calibrate_method=methods[method],
            # Symmetric: TensorRT takes only zero points of 0. Float biases: TensorRT's DequantizeLinear takes
            # INT8/FP8/INT4, not the INT32 biases the quantizer makes by default (ONNX Runtime CPU speed is the same).
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
        )
    quantized = onnx.load(str(output))
    reconnect_float(quantized.graph, set(keep_float))
    onnx.save(quantized, str(output))


@dataclass(frozen=True)
class FloatChoice:
    """What stayed float32, as data: the region, how many attention-path nodes went to int8 of how many,
    and the exact index agreement that choice kept on the calibration frames (`auto` only)."""

    region: str
    int8_attention_nodes: int
    attention_path_nodes: int
    calibration_index_agreement: float | None = None

    def describe(self) -> str:
        text = f"{self.region}: {self.int8_attention_nodes} of {self.attention_path_nodes} attention-path nodes in int8"
        if self.calibration_index_agreement is not None:
            text += f", {self.calibration_index_agreement:.2%} exact index agreement on the calibration frames"
        return text


def quantization_record(
    calibration_source: str,
    frames: int,
    method: str,
    region: str,
    choice: FloatChoice,
    float_nodes: int,
    agreement: Agreement,
    gate: Gate,
) -> dict:
    """What the model card says about how the INT8 file was made and how well it agrees."""
    return {
        "precision": "int8",
        "format": "QDQ",
        "calibration_source": calibration_source,
        "calibration_frames": frames,
        "calibration_method": method,
        "weights": "per-channel symmetric int8",
        "activations": "per-tensor symmetric int8",
        "biases": "float32",
        "float_ops": list(FLOAT_OPS),
        "float_region": region,
        "float_choice": asdict(choice),
        "float_nodes": float_nodes,
        "agreement": asdict(agreement),
        "gate": asdict(gate),
        "gate_failures": gate.failures(agreement),
    }


@dataclass(frozen=True)
class Latency:
    """Batch-1 latency of the float32 and the INT8 file on this CPU, each the median of `runs` calls
    after a warm-up, in the sessions the agreement check used."""

    float32_ms: float
    int8_ms: float
    runs: int = LATENCY_RUNS

    @property
    def speedup(self) -> float:
        return self.float32_ms / self.int8_ms

    def describe(self) -> str:
        return (
            f"batch-1 latency on this CPU (median of {self.runs}): float32 {self.float32_ms:.2f} ms, "
            f"int8 {self.int8_ms:.2f} ms ({self.speedup:.2f}x)"
        )


def batch1_latency(runner: Runner) -> float:
    """Median milliseconds of one blank frame through `runner`."""
    card = runner.card
    size = card.input_size
    image = Preprocessor(size, card.mean, card.std).batch([np.zeros((size, size, 3), np.uint8)])
    return statistics.median(time_calls(lambda: runner.infer(image), warmup=LATENCY_WARMUP, runs=LATENCY_RUNS))


@dataclass
class Int8Export:
    calibration_frames: int
    held_out_frames: int
    float_nodes: int
    choice: FloatChoice
    agreement: Agreement
    gate_failures: list[str]
    latency: Latency | None  # None where the options left the timing out


@dataclass
class FloatSearch:
    """The `auto` region: how many attention-path nodes may be int8 for a target index agreement."""

    source: Path
    output: Path
    calibration: np.ndarray
    method: str
    reference: OnnxrtRunner  # the float model
    card: ModelCard
    target: float
    progress: Progress
    threads: int | None = None

    def agreement(self, keep_float: list[str]) -> float:
        quantize_int8(self.source, self.output, self.calibration, self.method, keep_float)
        with OnnxrtRunner(self.output, device="cpu", intra_op_threads=self.threads) as candidate:
            score = measure_agreement(self.reference, candidate, self.calibration, self.card).index_exact
        self.progress.update()
        return score

    def choose(self, model) -> tuple[list[str], FloatChoice]:
        head = float_nodes(model, "head")
        backbone = [name for name in float_nodes(model, "attention-path") if name not in set(head)]
        if self.card.anchors is None:  # a plain model has no anchor indices to protect
            return head, FloatChoice("head", len(backbone), len(backbone))
        whole = self.agreement(head)
        if whole >= self.target:
            return head, FloatChoice("head", len(backbone), len(backbone), whole)
        low, high, best = 0, len(backbone), 1.0  # k = 0 is the whole path in float: exact by construction
        while high - low > 1:
            middle = (low + high) // 2
            score = self.agreement(head + backbone[middle:])
            low, high, best = (middle, high, score) if score >= self.target else (low, middle, best)
        region = "attention-path" if low == 0 else "partial"
        return head + backbone[low:], FloatChoice(region, low, len(backbone), best)


@dataclass(frozen=True)
class Int8Options:
    """What `aib export int8` takes besides the two files; `export_int8` takes the same object."""

    calibration: str = "synthetic"
    count: int = 256
    held_out: int = 512
    method: str = "minmax"
    float_region: str = "auto"
    # Above the gate (0.95): held-out frames agree a little less than the calibration frames auto chose on.
    min_index_agreement: float = 0.97
    threads: int | None = None
    fail_under: Gate = field(default_factory=Gate)
    progress: bool = True  # a progress bar on stderr over the quantization trials and the agreement check
    timed: bool = True  # time both files at batch 1; `aib bench --suite` leaves it out, as it times them itself

    def validate(self) -> None:
        if self.float_region not in FLOAT_REGIONS:
            raise OptionError(f"--float: expected one of {', '.join(FLOAT_REGIONS)}, got {self.float_region!r}")
        if self.method not in CALIBRATION_METHODS:
            raise OptionError(f"--method: expected one of {', '.join(CALIBRATION_METHODS)}, got {self.method!r}")
        if not 0 < self.min_index_agreement <= 1:
            raise OptionError(f"--min-index-agreement: expected a share in (0, 1], got {self.min_index_agreement}")


def export_int8(source: Path, output: Path, options: Int8Options = Int8Options()) -> Int8Export:
    """Calibrate, choose the float nodes, quantize, check agreement on held-out frames, time both files
    at batch 1, write the card (the timing stays out of it: it belongs to this machine, not the file).

    The file and its card are written even when the agreement falls below `options.fail_under`; the
    result lists what failed, and `aib export int8` then exits non-zero. A run that fails leaves no file."""
    options.validate()
    if source.resolve() == output.resolve():
        raise AibError(f"{output}: the INT8 file must not overwrite its float model")
    model, _ = float32_source(source, "aib export int8")
    calibration, checks = calibration_split(options.calibration, options.count, options.held_out)
    with written_whole(output) as partial:
        return quantize_and_check(source, partial, model, calibration, checks, options)


def quantize_and_check(
    source: Path, output: Path, model, calibration: list[np.ndarray], checks: list[np.ndarray], options: Int8Options
) -> Int8Export:
    """`export_int8` once its source and frames are known: what it writes goes to `output`."""
    threads = options.threads
    with OnnxrtRunner(source, device="cpu", intra_op_threads=threads) as reference:
        card = reference.card
        preprocess = Preprocessor(card.input_size, card.mean, card.std)
        images = preprocess.batch(calibration)
        head = float_nodes(model, "head")
        backbone_nodes = len(float_nodes(model, "attention-path")) - len(head)
        searching = options.float_region == "auto" and card.anchors is not None
        trials = 2 + math.ceil(math.log2(max(backbone_nodes, 2))) if searching else 0
        with Progress(trials + 1, what="int8 quantizations", enabled=options.progress) as steps:
            if options.float_region == "auto":
                search = FloatSearch(
                    source, output, images, options.method, reference, card, options.min_index_agreement, steps, threads
                )
                keep, choice = search.choose(model)
            else:
                keep = float_nodes(model, options.float_region)
                in_int8 = backbone_nodes if options.float_region == "head" else 0
                choice = FloatChoice(options.float_region, in_int8, backbone_nodes)
            quantize_int8(source, output, images, options.method, keep)
            steps.update()
        with OnnxrtRunner(output, device="cpu", intra_op_threads=threads) as candidate:
            with Progress(2 * len(checks), what="agreement frames", enabled=options.progress) as frames:
                agreement = measure_agreement(reference, candidate, preprocess.batch(checks), card, frames)
            latency = Latency(batch1_latency(reference), batch1_latency(candidate)) if options.timed else None
    record = quantization_record(
        options.calibration,
        len(calibration),
        options.method,
        options.float_region,
        choice,
        len(keep),
        agreement,
        options.fail_under,
    )
    write_card(output, replace(card, extra={**card.extra, "quantization": record}))
    return Int8Export(len(calibration), len(checks), len(keep), choice, agreement, record["gate_failures"], latency)

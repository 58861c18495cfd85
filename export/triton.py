"""`aib export triton`: a Triton Inference Server model repository entry for an exported model.

Layout (Triton's model repository convention):

    REPOSITORY/NAME/config.pbtxt
    REPOSITORY/NAME/labels.txt          class names, for Triton's classification extension
    REPOSITORY/NAME/VERSION/model.onnx  (or model.plan for a TensorRT engine)

The config declares the contract's tensors without the batch dimension,
`max_batch_size`, dynamic batching with a maximum queue delay, one instance
group, and the model card as a parameter, so clients can read labels and
anchors through Triton's model-config API.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..card.model_card import ModelCard
from ..contract import BATCH_DELAY_MS, INPUT_NAME, MODEL_CARD_KEY, output_names
from ..errors import AibError

PLATFORMS = {".onnx": ("onnxruntime_onnx", "model.onnx"), ".engine": ("tensorrt_plan", "model.plan"),
             ".plan": ("tensorrt_plan", "model.plan")}  # fmt: skip
TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                "uint8": "TYPE_UINT8", "int8": "TYPE_INT8"}  # fmt: skip
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
KINDS = ("gpu", "cpu")
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class TritonOptions:
    """What `aib export triton` takes besides the model and the repository; `max_batch` None: the model's."""

    name: str | None = None
    version: int = 1
    max_batch: int | None = None
    max_delay_us: int = round(BATCH_DELAY_MS * 1000)
    kind: str = "gpu"
    instances: int = 1

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise AibError(f"--kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.version < 1 or self.instances < 1 or self.max_delay_us < 0:
            raise AibError("--version and --instances must be >= 1, --max-delay-us >= 0")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy name
    dims: tuple[int, ...]  # without the batch dimension


def text_string(value: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def tensor_block(spec: TensorSpec, extra: str = "") -> str:
    dims = ", ".join(map(str, spec.dims))
    return f"  {{\n    name: {text_string(spec.name)}\n    data_type: {TRITON_TYPES[spec.dtype]}\n    dims: [ {dims} ]\n{extra}  }}"


def triton_config(name: str, platform: str, card: ModelCard, inputs: list[TensorSpec], outputs: list[TensorSpec],
                  max_batch: int, options: TritonOptions) -> str:  # fmt: skip
    """config.pbtxt text for one model."""
    input_blocks = [tensor_block(spec, "    format: FORMAT_NCHW\n") for spec in inputs]
    output_blocks = [tensor_block(spec, f"    label_filename: {text_string(LABELS_FILE)}\n" if spec.name == "logits" else "")
                     for spec in outputs]  # fmt: skip
    return "\n".join([
        f"name: {text_string(name)}",
        f"platform: {text_string(platform)}",
        f"max_batch_size: {max_batch}",
        "input [\n" + ",\n".join(input_blocks) + "\n]",
        "output [\n" + ",\n".join(output_blocks) + "\n]",
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {options.max_delay_us}\n}}",
        f"instance_group [\n  {{\n    count: {options.instances}\n    kind: KIND_{options.kind.upper()}\n  }}\n]",
        f"parameters {{\n  key: {text_string(MODEL_CARD_KEY)}\n  value {{\n    string_value: "
        + text_string(card.to_json()) + "\n  }\n}",
    ]) + "\n"  # fmt: skip


def onnx_tensors(path: Path) -> tuple[ModelCard, list[TensorSpec], list[TensorSpec]]:
    from ..backends.onnxrt import OnnxrtRunner

    with OnnxrtRunner(path, device="cpu") as runner:
        session = runner.session
        card = runner.card
        dtype = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int32)": "int32",
                 "tensor(int64)": "int64"}  # fmt: skip
        specs = [
            [TensorSpec(value.name, dtype[value.type], tuple(value.shape[1:])) for value in values]
            for values in (session.get_inputs(), session.get_outputs())
        ]
    return card, specs[0], specs[1]


def engine_tensors(path: Path) -> tuple[ModelCard, list[TensorSpec], list[TensorSpec]]:
    """The contract's tensors as the engine's sidecar describes them (no TensorRT needed)."""
    from ..backends.tensorrt.sidecar import read_sidecar, sidecar_card

    card = sidecar_card(path, read_sidecar(path))
    size, att = card.input_size, card.att_dim
    shapes = {"logits": (card.architecture.num_classes,), "attention": (1, att, att), "attention_index": (1, att, att)}
    types = {"attention_index": "int32"}
    outputs = [TensorSpec(name, types.get(name, "float32"), shapes[name]) for name in output_names(card.architecture.quantized)]
    return card, [TensorSpec(INPUT_NAME, "float32", (3, size, size))], outputs


def precision_of(card: ModelCard, model: Path) -> str:
    """fp32, fp16 or int8: what the file runs in (its card's record, or an engine's sidecar)."""
    if model.suffix != ".onnx":
        from ..backends.tensorrt.sidecar import read_sidecar

        return read_sidecar(model).get("precision", "fp32")
    return card.precision


def write_repository(model: Path, repository: Path, options: TritonOptions = TritonOptions()) -> Path:
    """Write REPOSITORY/NAME for MODEL and return the model's folder."""
    options.validate()
    if not model.is_file():
        raise AibError(f"model {model}: file not found")
    if model.suffix not in PLATFORMS:
        raise AibError(f"model {model}: expected an .onnx file or a TensorRT engine (.engine/.plan), got {model.suffix or 'no suffix'}")
    engine = model.suffix != ".onnx"
    if engine and options.kind != "gpu":
        raise AibError("--kind cpu: a TensorRT engine runs on a GPU instance only")
    card, inputs, outputs = engine_tensors(model) if engine else onnx_tensors(model)
    name = options.name or card.serving_name(precision_of(card, model))
    if not NAME_PATTERN.match(name):
        raise AibError(f"--name: {name!r} is not a usable model name (letters, digits, '_', '.', '-')")
    max_batch = card.batch_limit if options.max_batch is None else options.max_batch
    if engine and not 1 <= max_batch <= card.batch_limit:
        raise AibError(f"--max-batch {max_batch}: the engine's profile takes batches 1 to {card.batch_limit}")
    if max_batch < 1:
        raise AibError(f"--max-batch: expected a positive batch size, got {max_batch}")
    if repository.exists() and not repository.is_dir():
        raise AibError(f"--repository {repository}: exists and is not a folder")
    folder = repository / name
    version_folder = folder / str(options.version)
    if version_folder.exists():
        raise AibError(f"{version_folder}: already exists; pick another --version or remove it")
    platform, filename = PLATFORMS[model.suffix]
    version_folder.mkdir(parents=True)
    shutil.copyfile(model, version_folder / filename)
    (folder / LABELS_FILE).write_text("\n".join(card.labels) + "\n", encoding="utf-8")
    config = triton_config(name, platform, card, inputs, outputs, max_batch, options)
    (folder / "config.pbtxt").write_text(config, encoding="utf-8")
    return folder

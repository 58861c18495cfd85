"""config.pbtxt text for the models `aib export triton` writes, in protobuf text format.

Three kinds, all declaring tensors without the batch dimension and the model card as a parameter:
- a model a Triton backend runs from a file (`platform: "onnxruntime_onnx"` or `"tensorrt_plan"`);
- a Python-backend model (`backend: "python"`) whose `model.py` runs aib-deploy;
- an ensemble (`platform: "ensemble"`) that chains models, tensor by tensor.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..contract import LABELS_FILE

TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                "uint8": "TYPE_UINT8", "int8": "TYPE_INT8", "bytes": "TYPE_STRING"}  # fmt: skip
LABELLED_OUTPUT = "logits"  # Triton's classification extension reads class names for it from LABELS_FILE


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy name, or "bytes" for Triton's TYPE_STRING
    dims: tuple[int, ...]  # without the batch dimension
    optional: bool = False


@dataclass(frozen=True)
class EnsembleStep:
    """One model of an ensemble: its tensor names mapped to the ensemble's."""

    model: str
    version: int
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]


def text_string(value: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _tensor(spec: TensorSpec, is_input: bool) -> str:
    lines = [f"name: {text_string(spec.name)}", f"data_type: {TRITON_TYPES[spec.dtype]}",
             f"dims: [ {', '.join(map(str, spec.dims))} ]"]  # fmt: skip
    if is_input and len(spec.dims) == 3:
        lines.append("format: FORMAT_NCHW")
    if spec.optional:
        lines.append("optional: true")
    if not is_input and spec.name == LABELLED_OUTPUT:
        lines.append(f"label_filename: {text_string(LABELS_FILE)}")
    return "  {\n" + "".join(f"    {line}\n" for line in lines) + "  }"


def _tensors(field: str, specs: Sequence[TensorSpec]) -> str:
    return f"{field} [\n" + ",\n".join(_tensor(spec, field == "input") for spec in specs) + "\n]"


def _parameters(parameters: Mapping[str, str]) -> list[str]:
    return [f"parameters {{\n  key: {text_string(key)}\n  value {{\n    string_value: {text_string(value)}\n  }}\n}}"
            for key, value in parameters.items()]  # fmt: skip


def _map(field: str, pairs: Mapping[str, str]) -> str:
    return "".join(f"      {field} {{ key: {text_string(key)} value: {text_string(value)} }}\n" for key, value in pairs.items())


def model_config(name: str, runs_on: str, max_batch: int, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                 parameters: Mapping[str, str], max_delay_us: int | None, instances: int, kind: str) -> str:  # fmt: skip
    """A model that Triton schedules itself. `runs_on`: `platform: "..."` or `backend: "..."`;
    `max_delay_us` None: no dynamic batching (one request at a time per instance)."""
    batching = [] if max_delay_us is None else [f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_delay_us}\n}}"]
    return "\n".join([
        f"name: {text_string(name)}",
        runs_on,
        f"max_batch_size: {max_batch}",
        _tensors("input", inputs),
        _tensors("output", outputs),
        *batching,
        f"instance_group [\n  {{\n    count: {instances}\n    kind: KIND_{kind.upper()}\n  }}\n]",
        *_parameters(parameters),
    ]) + "\n"  # fmt: skip


def ensemble_config(name: str, max_batch: int, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                    steps: Sequence[EnsembleStep], parameters: Mapping[str, str]) -> str:  # fmt: skip
    """An ensemble: Triton passes each step's outputs to the next by the names in the maps."""
    blocks = [
        "    {\n"
        f"      model_name: {text_string(step.model)}\n"
        f"      model_version: {step.version}\n"
        + _map("input_map", step.inputs) + _map("output_map", step.outputs) + "    }"
        for step in steps
    ]  # fmt: skip
    return "\n".join([
        f"name: {text_string(name)}",
        'platform: "ensemble"',
        f"max_batch_size: {max_batch}",
        _tensors("input", inputs),
        _tensors("output", outputs),
        "ensemble_scheduling {\n  step [\n" + ",\n".join(blocks) + "\n  ]\n}",
        *_parameters(parameters),
    ]) + "\n"  # fmt: skip

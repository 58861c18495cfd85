"""Triton's model configuration (`model_config.proto`), built as the proto and written as text from it.

One builder for every config aib-deploy publishes: `aib serve`'s answer to KServe's ModelConfig call and
each `config.pbtxt` of `aib export triton` (a model Triton runs from a file, a Python-backend model, the
preprocess step and the ensemble of `--frames`). The model card travels as a parameter, so clients read
labels and anchors through Triton's model-config API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import text_format

from ..contract import LABELS_FILE
from .generated import model_config_pb2 as config_pb
from .signature import LABELLED_OUTPUT, TensorSpec

KINDS = {"cpu": config_pb.ModelInstanceGroup.KIND_CPU, "gpu": config_pb.ModelInstanceGroup.KIND_GPU}


@dataclass(frozen=True)
class Scheduling:
    """How Triton schedules a model: `max_delay_us` None runs one request at a time per instance."""

    max_delay_us: int | None
    instances: int
    kind: str  # a key of KINDS


@dataclass(frozen=True)
class EnsembleStep:
    """One model of an ensemble: its tensor names mapped to the ensemble's."""

    model: str
    version: int
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]


def model_input(spec: TensorSpec) -> config_pb.ModelInput:
    image_format = config_pb.ModelInput.FORMAT_NCHW if len(spec.dims) == 3 else config_pb.ModelInput.FORMAT_NONE
    return config_pb.ModelInput(
        name=spec.name,
        data_type=config_pb.DataType.Value(spec.triton_type),
        format=image_format,
        dims=spec.dims,
        optional=spec.optional,
    )


def model_output(spec: TensorSpec) -> config_pb.ModelOutput:
    labels = LABELS_FILE if spec.name == LABELLED_OUTPUT else ""
    return config_pb.ModelOutput(
        name=spec.name, data_type=config_pb.DataType.Value(spec.triton_type), dims=spec.dims, label_filename=labels
    )


def model_config(
    name: str,
    max_batch: int,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    parameters: Mapping[str, str],
    *,
    platform: str = "",
    backend: str = "",
    scheduling: Scheduling | None = None,
) -> config_pb.ModelConfig:
    """A model config: `platform` (onnxruntime_onnx, tensorrt_plan, ensemble) or `backend` (python, ...) runs it;
    `scheduling` None leaves batching and instances to the platform (ensembles)."""
    config = config_pb.ModelConfig(
        name=name,
        platform=platform,
        backend=backend,
        max_batch_size=max_batch,
        input=[model_input(spec) for spec in inputs],
        output=[model_output(spec) for spec in outputs],
    )
    if scheduling is not None:
        if scheduling.max_delay_us is not None:
            config.dynamic_batching.max_queue_delay_microseconds = scheduling.max_delay_us
        config.instance_group.add(count=scheduling.instances, kind=KINDS[scheduling.kind])
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    return config


def ensemble_config(
    name: str,
    max_batch: int,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    steps: Sequence[EnsembleStep],
    parameters: Mapping[str, str],
) -> config_pb.ModelConfig:
    """An ensemble: Triton passes each step's outputs to the next by the names in the maps."""
    config = model_config(name, max_batch, inputs, outputs, parameters, platform="ensemble")
    for step in steps:
        config.ensemble_scheduling.step.add(
            model_name=step.model, model_version=step.version, input_map=step.inputs, output_map=step.outputs
        )
    return config


def config_text(config: config_pb.ModelConfig) -> str:
    """config.pbtxt: the proto in protobuf's text format, which Triton parses."""
    return text_format.MessageToString(config)

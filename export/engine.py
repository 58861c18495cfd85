"""`aib export engine`: a TensorRT engine from an exported ONNX file, with a sidecar JSON beside it.

NOT EXECUTED in this project's CI or on its development machines (TensorRT's
builder cannot be installed there and there is no GPU): written against
NVIDIA's documented TensorRT 10 Python API (`build_serialized_network`, one
optimization profile over the batch dimension, a timing cache, precision
constraints) and imported only when the command runs. The sidecar contents,
the option checks and the choice of layers kept in float32 run without
TensorRT and are tested.

FP16 must not move anchors: the anchor snap (the squared distances to the
anchors, ArgMin, Gather) and the sigmoid before it are pinned to float32 with
precision constraints the builder must obey.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..errors import AibError
from ..files import file_sha256
from ..runtime.runners.tensorrt import current_gpu, import_cudart, import_tensorrt, sidecar_path
from .graph import ATTENTION_OUTPUTS, ancestors

SNAP_START = "Sigmoid"  # the attention mean; everything after it up to the outputs is the snap


@dataclass
class EngineOptions:
    fp16: bool = False
    int8: bool = False
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 32
    workspace_mib: int = 1024
    timing_cache: Path | None = None
    version_compatible: bool = False
    hardware_compatible: bool = False

    def validate(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise AibError(f"batch profile: need 1 <= --min-batch <= --opt-batch <= --max-batch, "
                           f"got {self.min_batch}, {self.opt_batch}, {self.max_batch}")  # fmt: skip
        if self.workspace_mib < 1:
            raise AibError(f"--workspace: expected a positive size in MiB, got {self.workspace_mib}")

    @property
    def precision(self) -> str:
        return "+".join(name for name, on in (("fp16", self.fp16), ("int8", self.int8)) if on) or "fp32"


def float32_nodes(model) -> list[str]:
    """ONNX nodes pinned to float32: the last Sigmoid before the attention outputs and all after it."""
    nodes = model.graph.node
    path = ancestors(nodes, ATTENTION_OUTPUTS)
    sigmoids = [node for node in nodes if node.op_type == SNAP_START and node.name in path]
    if not sigmoids:
        return []
    cut = tuple(sigmoids[-1].input)
    return [node.name for node in nodes if node.name in ancestors(nodes, ATTENTION_OUTPUTS, cut=cut)]


def has_qdq(model) -> bool:
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in model.graph.node)


def engine_sidecar(onnx_path: Path, card_json: str, options: EngineOptions, tensorrt_version: str, gpu: str,
                   compute_capability: str, pinned: list[str]) -> dict:  # fmt: skip
    """What the engine is and where it may run; written beside the engine, never into it."""
    return {
        "tensorrt_version": tensorrt_version, "gpu": gpu, "compute_capability": compute_capability,
        "precision": options.precision,
        "profile": {"input": "images", "min": options.min_batch, "opt": options.opt_batch, "max": options.max_batch},
        "version_compatible": options.version_compatible,
        "hardware_compatibility": "ampere_plus" if options.hardware_compatible else "none",
        "float32_layers_from_onnx_nodes": pinned, "onnx_file": onnx_path.name, "onnx_sha256": file_sha256(onnx_path),
        "model_card": json.loads(card_json),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(options).items()},
    }  # fmt: skip


def pin_layers_to_float32(trt, network, node_names: list[str]) -> int:
    """Precision constraints on the layers the parser made from `node_names` (it names layers after nodes)."""
    pinned = 0
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if any(layer.name == name or layer.name.startswith(name + "_") for name in node_names):
            layer.precision = trt.float32
            for output in range(layer.num_outputs):
                if layer.get_output_type(output) in (trt.float16, trt.float32):
                    layer.set_output_type(output, trt.float32)
            pinned += 1
    return pinned


def build_engine(onnx_path: Path, output: Path, options: EngineOptions) -> dict:
    """Parse, configure, build and write the engine and its sidecar; return the sidecar."""
    import onnx

    from ..modelcard import MODEL_CARD_KEY

    options.validate()
    if not onnx_path.is_file():
        raise AibError(f"model {onnx_path}: file not found")
    model = onnx.load(str(onnx_path))
    card_json = {prop.key: prop.value for prop in model.metadata_props}.get(MODEL_CARD_KEY)
    if card_json is None:
        raise AibError(f"model {onnx_path}: no aib-deploy model card; export it with `aib export onnx`")
    pinned_nodes = float32_nodes(model)
    options = replace(options, int8=options.int8 or has_qdq(model))  # Q/DQ nodes need the INT8 flag
    trt = import_tensorrt()
    gpu, capability = current_gpu(import_cudart())
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise AibError(f"model {onnx_path}: TensorRT's ONNX parser refused it: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    size = json.loads(card_json)["architecture"]["input_size"]
    profile = builder.create_optimization_profile()
    profile.set_shape("images", *[(batch, 3, size, size) for batch in (options.min_batch, options.opt_batch, options.max_batch)])
    config.add_optimization_profile(profile)
    if options.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if options.int8:
        config.set_flag(trt.BuilderFlag.INT8)  # explicit quantization: the Q/DQ nodes carry the scales
    if options.fp16 or options.int8:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        pin_layers_to_float32(trt, network, pinned_nodes)
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if options.hardware_compatible:
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    cache_bytes = options.timing_cache.read_bytes() if options.timing_cache and options.timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise AibError(f"model {onnx_path}: TensorRT could not build an engine (see its log above)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(bytes(serialized))
    if options.timing_cache:
        options.timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    sidecar = engine_sidecar(onnx_path, card_json, options, trt.__version__, gpu, capability, pinned_nodes)
    sidecar_path(output).write_text(json.dumps(sidecar, indent=1) + "\n")
    return sidecar

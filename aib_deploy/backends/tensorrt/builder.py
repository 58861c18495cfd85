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

from dataclasses import replace
from pathlib import Path

from ...card.model_card import card_from_metadata
from ...contract import INPUT_NAME
from ...errors import AibError
from ..graph_regions import float32_nodes, has_qdq
from .cuda import current_gpu, import_cudart, import_tensorrt
from .options import EngineOptions
from .sidecar import engine_sidecar, write_sidecar


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

    if not onnx_path.is_file():
        raise AibError(f"model {onnx_path}: file not found")
    model = onnx.load(str(onnx_path))
    card = card_from_metadata({prop.key: prop.value for prop in model.metadata_props}, source=f"model {onnx_path}")
    options = options.for_card(card)
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
    size = card.input_size
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, *[(batch, 3, size, size) for batch in (options.min_batch, options.opt_batch, options.max_batch)])
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
    sidecar = engine_sidecar(onnx_path, card, options, trt.__version__, gpu, capability, pinned_nodes)
    write_sidecar(output, sidecar)
    return sidecar

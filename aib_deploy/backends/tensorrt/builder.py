"""`aib export engine`: a strongly typed TensorRT engine from an exported ONNX file, with a sidecar JSON beside it.

NOT EXECUTED in this project's CI or on its development machines (TensorRT's
builder cannot be installed there and there is no GPU). Written against
Polygraphy's TensorRT loaders (NVIDIA's own, released with each TensorRT) and
the few TensorRT names both 10.x and 11.x have; tests check those names
against the 10.16 and 11.4 binding libraries and that none of the APIs 11.x
removed is used.

Strongly typed (`NetworkDefinitionCreationFlag.STRONGLY_TYPED`, the only mode
TensorRT 11 builds): the file's types decide the precision. A float32 file
gives an fp32 engine, an `aib export fp16` file an fp16 one (its anchor snap
already float32 in the file), an `aib export int8` file an int8 one (its Q/DQ
nodes carry the scales). No precision flags, no per-layer constraints, no
matching of layer names.
"""

from __future__ import annotations

from pathlib import Path

from ...card.model_card import card_from_onnx
from ...contract import INPUT_NAME
from ...errors import AibError
from ..graph_regions import file_precision
from .cuda import current_gpu, import_cudart, import_tensorrt
from .options import EngineOptions
from .sidecar import engine_sidecar, write_sidecar


def timing_cache_loader(path: Path):
    """A config post-processor that reads the timing cache and fails in one line when TensorRT refuses it."""

    def apply(builder, network, config) -> None:
        cache = config.create_timing_cache(path.read_bytes() if path.is_file() else b"")
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            raise AibError(
                f"--timing-cache {path}: TensorRT refused it (made by another TensorRT version or GPU); "
                "delete it or name a new file"
            )

    return apply


def build_engine(onnx_path: Path, output: Path, options: EngineOptions) -> dict:
    """Parse (strongly typed), configure, build and write the engine and its sidecar; return the sidecar."""
    import onnx

    if not onnx_path.is_file():
        raise AibError(f"model {onnx_path}: file not found")
    model = onnx.load(str(onnx_path))
    card = card_from_onnx(model, source=f"model {onnx_path}")
    options = options.for_card(card)
    precision = file_precision(model)
    trt = import_tensorrt()
    gpu, capability = current_gpu(import_cudart())
    from polygraphy.backend.trt import CreateConfig, EngineBytesFromNetwork, NetworkFromOnnxBytes, PostprocessConfig, Profile
    from polygraphy.exception import PolygraphyException

    size = card.input_size
    shapes = {
        name: (batch, 3, size, size)
        for name, batch in (("min", options.min_batch), ("opt", options.opt_batch), ("max", options.max_batch))
    }
    config = CreateConfig(
        profiles=[Profile().add(INPUT_NAME, **shapes)],
        memory_pool_limits={trt.MemoryPoolType.WORKSPACE: options.workspace_mib << 20},
        version_compatible=options.version_compatible or None,
        hardware_compatibility_level=trt.HardwareCompatibilityLevel.AMPERE_PLUS if options.hardware_compatible else None,
    )
    if options.timing_cache is not None:
        config = PostprocessConfig(config, timing_cache_loader(options.timing_cache))
    network = NetworkFromOnnxBytes(onnx_path.read_bytes(), strongly_typed=True)
    try:
        serialized = EngineBytesFromNetwork(network, config, save_timing_cache=options.timing_cache)()
    except PolygraphyException as error:
        raise AibError(f"model {onnx_path}: TensorRT could not build an engine: {str(error).strip().splitlines()[-1]}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(bytes(serialized))
    sidecar = engine_sidecar(onnx_path, card, options, precision, trt.__version__, gpu, capability)
    write_sidecar(output, sidecar)
    return sidecar

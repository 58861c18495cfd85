"""Triton's own model-config schema, to parse the config.pbtxt files we write."""

import importlib.util
from pathlib import Path


def triton_model_config():
    """Triton's ModelConfig message, from the model_config_pb2 that tritonclient ships.

    Loaded from its file: `tritonclient.grpc` itself refuses to import without the
    [grpc] extra, whose protobuf pin conflicts with ours; the schema module needs neither.
    """
    package = Path(importlib.util.find_spec("tritonclient").submodule_search_locations[0])
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", package / "grpc" / "model_config_pb2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_config(folder: Path, schema=None):
    """FOLDER/config.pbtxt parsed with Triton's own schema (text_format refuses any field it lacks)."""
    from google.protobuf import text_format

    schema = schema or triton_model_config()
    return text_format.Parse((Path(folder) / "config.pbtxt").read_text(), schema.ModelConfig())


def parameters(config) -> dict[str, str]:
    return {key: value.string_value for key, value in config.parameters.items()}

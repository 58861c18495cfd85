"""Checks of NAMES, not behaviour: every TensorRT name our code uses exists in TensorRT 10.16 and 11.4.

- Runtime side: the runner's attributes on `trt`, `runtime`, `engine` and `context` are looked up on the
  real lean-runtime module (`tensorrt_lean_bindings`), which imports here without a GPU.
- Builder side: the names builder.py uses on `trt` and `config` must appear in the builder bindings'
  `tensorrt.so` (it cannot be imported without libnvinfer, but holds every binding name).
- None of the APIs TensorRT 11 removed is used anywhere in the package; the list below is itself checked:
  each name is in 10.16's bindings and gone from 11.4's.
Nothing here builds or runs an engine: that needs a GPU (see test_tensorrt.py's skipped tests).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.helpers.package import all_modules, source_file
from tests.helpers.tensorrt_api import VERSIONS, builder_bindings, installed, lean_folder

RUNNER_MODULES = ("aib_deploy.backends.tensorrt.runner", "aib_deploy.backends.tensorrt.cuda")
BUILDER_MODULE = "aib_deploy.backends.tensorrt.builder"
# Receiver name -> the lean module's class it stands for ("" is the module itself).
RUNTIME_RECEIVERS = {"trt": "", "runtime": "Runtime", "engine": "ICudaEngine", "context": "IExecutionContext"}
BUILDER_RECEIVERS = ("trt", "config")
# Python APIs TensorRT 11 removed (NVIDIA's "Removed Python APIs" for 11.x), as they appear in the bindings.
REMOVED_IN_11 = (
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "set_output_type",
    "precision_is_set",
    "reset_precision",
    "output_type_is_set",
    "reset_output_type",
    "int8_calibrator",
    "IInt8Calibrator",
    "IInt8EntropyCalibrator2",
    "set_dynamic_range",
    "platform_has_fast_fp16",
    "platform_has_fast_int8",
)
REMOVED_FLAGS = ("FP16", "INT8")  # BuilderFlag members: weakly typed precision, gone in 11

needs_api_files = pytest.mark.skipif(
    not all(installed(v) for v in VERSIONS),
    reason="TensorRT API files missing: run .venv/bin/python -m tests.helpers.tensorrt_api",
)


def chain(node: ast.AST) -> list[str] | None:
    """`self.engine.get_tensor_name` -> ['engine', 'get_tensor_name']; None when it does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id != "self":
        parts.append(node.id)
    return parts[::-1]


def used_names(module: str, receivers) -> set[tuple[str, ...]]:
    """Attribute paths used on the given receivers, e.g. ('trt', 'Logger', 'WARNING'), ('engine', 'num_io_tensors')."""
    tree = ast.parse(source_file(module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = chain(node)
            if parts and parts[0] in receivers and len(parts) > 1 and not parts[1].startswith("__"):
                found.add(tuple(parts))
    # the longest path of each chain (trt.Logger.WARNING checks trt.Logger too)
    return {path for path in found if not any(other[: len(path)] == path and len(other) > len(path) for other in found)}


def test_the_runner_and_builder_names_are_read_from_the_code():
    runtime = set().union(*(used_names(m, RUNTIME_RECEIVERS) for m in RUNNER_MODULES))
    assert ("context", "execute_async_v3") in runtime and ("engine", "get_tensor_profile_shape") in runtime
    assert ("trt", "Logger", "WARNING") in runtime and ("runtime", "deserialize_cuda_engine") in runtime
    builder = used_names(BUILDER_MODULE, BUILDER_RECEIVERS)
    assert ("trt", "MemoryPoolType", "WORKSPACE") in builder and ("config", "set_timing_cache") in builder


LOOKUP = """
import json, sys
import tensorrt_lean_bindings as trt
missing = []
for receiver, *path in json.loads(sys.argv[1]):
    target = trt if receiver == "" else getattr(trt, receiver)
    for name in path:
        if not hasattr(target, name):
            missing.append(".".join([receiver or "trt", *path]))
            break
        target = getattr(target, name)
print(json.dumps({"version": trt.__version__, "missing": missing}))
"""


@needs_api_files
@pytest.mark.parametrize("version", VERSIONS)
def test_every_runtime_name_the_runner_uses_exists_on_the_lean_runtime(version):
    paths = set().union(*(used_names(m, RUNTIME_RECEIVERS) for m in RUNNER_MODULES))
    lookups = [[RUNTIME_RECEIVERS[path[0]], *path[1:]] for path in sorted(paths)]
    env = {"PYTHONPATH": str(lean_folder(version))}
    result = subprocess.run(
        [sys.executable, "-c", LOOKUP, json.dumps(lookups)], capture_output=True, text=True, env=env, timeout=120
    )
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["version"] == version and answer["missing"] == [], answer


@needs_api_files
@pytest.mark.parametrize("version", VERSIONS)
def test_every_builder_name_exists_in_the_builder_bindings(version):
    library = builder_bindings(version).read_bytes()
    names = {name for path in used_names(BUILDER_MODULE, BUILDER_RECEIVERS) for name in path[1:]}
    assert names and [name for name in sorted(names) if name.encode() not in library] == []


@needs_api_files
def test_the_removed_list_is_what_11_removed():
    old, new = (builder_bindings(version).read_bytes() for version in VERSIONS)
    assert [name for name in REMOVED_IN_11 if name.encode() not in old] == []
    assert [name for name in REMOVED_IN_11 if name.encode() in new] == []


def test_no_removed_api_is_used_anywhere_in_the_package():
    problems = []
    for module in all_modules():
        for node in ast.walk(ast.parse(source_file(module).read_text())):
            if isinstance(node, ast.Attribute):
                if node.attr in REMOVED_IN_11:
                    problems.append(f"{module}: .{node.attr}")
                if node.attr in REMOVED_FLAGS and isinstance(node.value, ast.Attribute) and node.value.attr == "BuilderFlag":
                    problems.append(f"{module}: BuilderFlag.{node.attr}")
                tensorrt_code = module.startswith("aib_deploy.backends.tensorrt")  # where a layer could be
                if tensorrt_code and node.attr == "precision" and isinstance(node.ctx, ast.Store):
                    problems.append(f"{module}: assigns a layer's .precision")
    assert problems == []


def test_polygraphy_takes_our_builder_arguments():
    """Polygraphy's loaders are built without TensorRT; a renamed keyword would fail here."""
    from polygraphy.backend.trt import CreateConfig, EngineBytesFromNetwork, NetworkFromOnnxBytes, PostprocessConfig, Profile

    network = NetworkFromOnnxBytes(b"onnx bytes", strongly_typed=True)
    profile = Profile().add("images", min=(1, 3, 32, 32), opt=(8, 3, 32, 32), max=(32, 3, 32, 32))
    config = CreateConfig(profiles=[profile], memory_pool_limits={}, version_compatible=True, hardware_compatibility_level=None)
    EngineBytesFromNetwork(network, PostprocessConfig(config, lambda builder, net, cfg: None), save_timing_cache=None)

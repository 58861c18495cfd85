"""The sidecar JSON beside an engine: what the engine is and where it may run.

Written by the builder and read by the runner and `aib export triton`; this
module is the only one that knows its keys. Runs without TensorRT (tested).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from pathlib import Path

from ...card.model_card import ModelCard
from ...contract import INPUT_NAME
from ...errors import AibError
from ...files import file_sha256
from .options import EngineOptions

REQUIRED_KEYS = ("tensorrt_version", "gpu", "compute_capability", "model_card", "profile")


def sidecar_path(engine: Path) -> Path:
    """The JSON that describes an engine, beside it (never inside the engine file)."""
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: Path, sidecar: dict) -> None:
    sidecar_path(engine).write_text(json.dumps(sidecar, indent=1) + "\n")


def read_sidecar(engine: Path) -> dict:
    path = sidecar_path(engine)
    if not engine.is_file():
        raise AibError(f"engine {engine}: file not found")
    if not path.is_file():
        raise AibError(f"engine {engine}: no sidecar {path.name} beside it; rebuild it with `aib export engine`")
    try:
        sidecar = json.loads(path.read_text())
        if not isinstance(sidecar, dict):
            raise TypeError
        missing = [key for key in REQUIRED_KEYS if key not in sidecar]
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
        raise AibError(f"engine sidecar {path}: not valid JSON (an object)") from None
    if missing:
        raise AibError(f"engine sidecar {path}: missing keys {', '.join(missing)}")
    profile = sidecar["profile"]
    batches = [profile.get(key) for key in ("min", "opt", "max")] if isinstance(profile, dict) else []
    if not (len(batches) == 3 and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in batches)):
        raise AibError(f"engine sidecar {path}: profile: expected min, opt and max batch sizes of at least 1, got {profile!r}")
    if not batches[0] <= batches[1] <= batches[2]:
        raise AibError(f"engine sidecar {path}: profile: expected min <= opt <= max, got {profile!r}")
    if not isinstance(sidecar["model_card"], dict):
        raise AibError(f"engine sidecar {path}: model_card: expected an object, got {type(sidecar['model_card']).__name__}")
    return sidecar


def compatibility_problems(sidecar: dict, tensorrt_version: str, gpu: str, compute_capability: str) -> list[str]:
    """Why this engine cannot run here; empty when it can.

    Plain engines need the TensorRT version and GPU model they were built with.
    A version-compatible engine runs on the same or any later TensorRT, across
    major versions too (TensorRT 11's "Engine Compatibility" page: 10.x
    version-compatible engines run on 11.x); a hardware-compatible one on any
    GPU of its compatibility level (Ampere or newer: compute capability 8.0 and up).
    """
    problems = []
    built = sidecar["tensorrt_version"]
    if sidecar.get("version_compatible"):
        if _version(tensorrt_version) < _version(built):
            problems.append(f"built with TensorRT {built} (version-compatible), this machine has the older {tensorrt_version}")
    elif built != tensorrt_version:
        problems.append(f"built with TensorRT {built}, this machine has {tensorrt_version}")
    if sidecar.get("hardware_compatibility") == "ampere_plus":
        if _version(compute_capability) < (8, 0):
            problems.append(f"built for Ampere or newer GPUs, this GPU ({gpu}) has compute capability {compute_capability}")
    elif (sidecar["gpu"], sidecar["compute_capability"]) != (gpu, compute_capability):
        problems.append(
            f"built on {sidecar['gpu']} (compute capability {sidecar['compute_capability']}), "
            f"this GPU is {gpu} ({compute_capability})"
        )
    return problems


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def engine_sidecar(
    onnx_path: Path,
    card: ModelCard,
    options: EngineOptions,
    precision: str,
    tensorrt_version: str,
    gpu: str,
    compute_capability: str,
) -> dict:
    """What the engine is and where it may run; written beside the engine, never into it."""
    return {
        "tensorrt_version": tensorrt_version,
        "gpu": gpu,
        "compute_capability": compute_capability,
        "precision": precision,
        "strongly_typed": True,
        "profile": {"input": INPUT_NAME, "min": options.min_batch, "opt": options.opt_batch, "max": options.max_batch},
        "version_compatible": options.version_compatible,
        "hardware_compatibility": "ampere_plus" if options.hardware_compatible else "none",
        "onnx_file": onnx_path.name,
        "onnx_sha256": file_sha256(onnx_path),
        "model_card": card.to_dict(),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(options).items()},
    }


def sidecar_precision(sidecar: dict) -> str:
    """fp32, fp16 or int8: what the engine was built from (its ONNX file's types)."""
    return sidecar.get("precision", "fp32")


def sidecar_card(engine: Path, sidecar: dict) -> ModelCard:
    """The engine's model card, with its max batch bounded by the profile."""
    card = ModelCard.from_json(json.dumps(sidecar["model_card"]), source=f"engine sidecar {sidecar_path(engine)}")
    return card.with_max_batch(sidecar["profile"]["max"])

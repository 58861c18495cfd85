"""`aib export triton`: Triton Inference Server model repository entries for an exported model.

Layout (Triton's model repository convention), by `--backend`:

    onnxruntime, tensorrt                      python
    REPOSITORY/NAME/config.pbtxt               REPOSITORY/NAME/config.pbtxt
    REPOSITORY/NAME/labels.txt                 REPOSITORY/NAME/labels.txt
    REPOSITORY/NAME/VERSION/model.onnx         REPOSITORY/NAME/VERSION/model.py   aib-deploy's Predictor
      (model.plan for a TensorRT engine)       REPOSITORY/NAME/VERSION/model.onnx

With `--frames` (onnxruntime, tensorrt) two more entries make an ensemble for clients that send
JPEG or PNG bytes: NAME_preprocess (Python backend: `frames` -> `images`) and NAME_frames (the
ensemble: `frames` in, NAME's outputs out). The Python-backend model takes `frames` itself.

Each config declares the contract's tensors without the batch dimension, `max_batch_size`, dynamic
batching with a maximum queue delay, one instance group, labels.txt on `logits` for Triton's
classification extension, and the model card as a parameter, so clients can read labels and anchors
through Triton's model-config API.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from ..card.model_card import ModelCard
from ..contract import (
    BATCH_DELAY_MS,
    FRAMES_INPUT,
    INPUT_NAME,
    LABELS_FILE,
    MAX_PIXELS,
    MODEL_CARD_KEY,
    MODEL_VERSION,
    output_names,
)
from ..errors import AibError
from .triton_config import EnsembleStep, TensorSpec, ensemble_config, model_config
from .triton_python import CLASSIFIER_TEMPLATE, PREPROCESS_TEMPLATE, python_parameters, write_model_script

BACKENDS = ("onnxruntime", "tensorrt", "python")
ENGINE_SUFFIXES = (".engine", ".plan")
PLATFORMS = {"onnxruntime": ("onnxruntime_onnx", "model.onnx"), "tensorrt": ("tensorrt_plan", "model.plan")}
PYTHON_MODEL_FILE = "model.onnx"  # beside model.py; the classifier template opens it by this name
PREPROCESS_SUFFIX = "_preprocess"
ENSEMBLE_SUFFIX = "_frames"
FRAMES = TensorSpec(FRAMES_INPUT, "bytes", (1,))  # one encoded JPEG or PNG per batch row
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
KINDS = ("gpu", "cpu")


@dataclass(frozen=True)
class TritonOptions:
    """What `aib export triton` takes besides the model and the repository; `max_batch` None: the model's;
    `backend` None: by the file (.onnx: onnxruntime, .engine/.plan: tensorrt)."""

    name: str | None = None
    version: int = MODEL_VERSION
    max_batch: int | None = None
    max_delay_us: int = round(BATCH_DELAY_MS * 1000)
    kind: str = "gpu"
    instances: int = 1
    backend: str | None = None
    frames: bool = False
    max_pixels: int = MAX_PIXELS
    python_path: tuple[str, ...] = ()  # Python-backend models: folders before the exporting environment's

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise AibError(f"--kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.backend is not None and self.backend not in BACKENDS:
            raise AibError(f"--backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.version < 1 or self.instances < 1 or self.max_delay_us < 0:
            raise AibError("--version and --instances must be >= 1, --max-delay-us >= 0")
        if self.max_pixels < 1:
            raise AibError(f"--max-pixels: expected a positive pixel count, got {self.max_pixels}")


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


def choose_backend(model: Path, options: TritonOptions) -> str:
    """The backend for MODEL: --backend, else by its suffix; one line when the two do not fit."""
    if not model.is_file():
        raise AibError(f"model {model}: file not found")
    if model.suffix != ".onnx" and model.suffix not in ENGINE_SUFFIXES:
        raise AibError(f"model {model}: expected an .onnx file or a TensorRT engine (.engine/.plan), got {model.suffix or 'no suffix'}")
    engine = model.suffix in ENGINE_SUFFIXES
    backend = options.backend or ("tensorrt" if engine else "onnxruntime")
    if engine and backend != "tensorrt":
        raise AibError(f"--backend {backend}: runs .onnx files; {model.name} is a TensorRT engine (use --backend tensorrt)")
    if not engine and backend == "tensorrt":
        raise AibError(f"--backend tensorrt: takes a TensorRT engine (.engine/.plan), got {model.name}; build one with "
                       "`aib export engine`, or use --backend onnxruntime")  # fmt: skip
    if backend == "tensorrt" and options.kind != "gpu":
        raise AibError("--kind cpu: a TensorRT engine runs on a GPU instance only")
    if options.python_path and backend != "python" and not options.frames:
        raise AibError(f"--python-path: only Python-backend models read it (--backend python, or --frames); "
                       f"--backend {backend} without --frames writes none")  # fmt: skip
    if backend == "python" and options.frames:
        raise AibError("--frames: the python backend takes frames itself; --frames adds an ensemble to "
                       "--backend onnxruntime or tensorrt")  # fmt: skip
    return backend


def write_repository(model: Path, repository: Path, options: TritonOptions = TritonOptions()) -> list[Path]:
    """Write REPOSITORY/NAME (and with --frames NAME_preprocess and NAME_frames) for MODEL; return the
    model folders, the one clients call with `images` first."""
    options.validate()
    backend = choose_backend(model, options)
    card, inputs, outputs = engine_tensors(model) if backend == "tensorrt" else onnx_tensors(model)
    name = options.name or card.serving_name(precision_of(card, model))
    if not NAME_PATTERN.match(name):
        raise AibError(f"--name: {name!r} is not a usable model name (letters, digits, '_', '.', '-')")
    max_batch = card.batch_limit if options.max_batch is None else options.max_batch
    if backend == "tensorrt" and not 1 <= max_batch <= card.batch_limit:
        raise AibError(f"--max-batch {max_batch}: the engine's profile takes batches 1 to {card.batch_limit}")
    if max_batch < 1:
        raise AibError(f"--max-batch: expected a positive batch size, got {max_batch}")
    if repository.exists() and not repository.is_dir():
        raise AibError(f"--repository {repository}: exists and is not a folder")
    names = [name, name + PREPROCESS_SUFFIX, name + ENSEMBLE_SUFFIX] if options.frames else [name]
    for entry in names:
        if (repository / entry / str(options.version)).exists():
            raise AibError(f"{repository / entry / str(options.version)}: already exists; pick another --version or remove it")
    writer = _Writer(repository, options, card, max_batch)
    if backend == "python":
        writer.python_model(name, model, inputs, outputs)
    else:
        writer.backend_model(name, backend, model, inputs, outputs)
    if options.frames:
        writer.preprocess_model(names[1], inputs[0])
        writer.ensemble(names[2], name, names[1], outputs)
    return [repository / entry for entry in names]


@dataclass(frozen=True)
class _Writer:
    """Writes the folders of one `aib export triton` call."""

    repository: Path
    options: TritonOptions
    card: ModelCard
    max_batch: int

    def _folder(self, name: str, config: str, labels: bool) -> Path:
        folder = self.repository / name
        version_folder = folder / str(self.options.version)
        version_folder.mkdir(parents=True)
        if labels:
            (folder / LABELS_FILE).write_text("\n".join(self.card.labels) + "\n", encoding="utf-8")
        (folder / "config.pbtxt").write_text(config, encoding="utf-8")
        return version_folder

    def _config(self, name: str, runs_on: str, inputs: list[TensorSpec], outputs: list[TensorSpec],
                parameters: dict[str, str], kind: str | None = None, batching: bool = True) -> str:  # fmt: skip
        return model_config(name, runs_on, self.max_batch, inputs, outputs, parameters,
                            self.options.max_delay_us if batching else None, self.options.instances,
                            kind or self.options.kind)  # fmt: skip

    def backend_model(self, name: str, backend: str, model: Path, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        platform, filename = PLATFORMS[backend]
        config = self._config(name, f'platform: "{platform}"', inputs, outputs, {MODEL_CARD_KEY: self.card.to_json()})
        shutil.copyfile(model, self._folder(name, config, labels=True) / filename)

    def python_model(self, name: str, model: Path, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        """`images` as the ONNX file takes it, or `frames`: both optional, one per request."""
        images = [TensorSpec(spec.name, spec.dtype, spec.dims, optional=True) for spec in inputs]
        frames = replace(FRAMES, optional=True)
        parameters = python_parameters(self.card, self.options.max_pixels, self.options.python_path)
        config = self._config(name, 'backend: "python"', [*images, frames], outputs, parameters)
        version_folder = self._folder(name, config, labels=True)
        shutil.copyfile(model, version_folder / PYTHON_MODEL_FILE)
        write_model_script(CLASSIFIER_TEMPLATE, version_folder)

    def preprocess_model(self, name: str, images: TensorSpec) -> None:
        """Decoding is CPU work whatever the model runs on; one request at a time per instance."""
        parameters = python_parameters(self.card, self.options.max_pixels, self.options.python_path)
        config = self._config(name, 'backend: "python"', [FRAMES], [images], parameters, kind="cpu", batching=False)
        write_model_script(PREPROCESS_TEMPLATE, self._folder(name, config, labels=False))

    def ensemble(self, name: str, model: str, preprocess: str, outputs: list[TensorSpec]) -> None:
        version = self.options.version
        steps = [
            EnsembleStep(preprocess, version, {FRAMES_INPUT: FRAMES_INPUT}, {INPUT_NAME: INPUT_NAME}),
            EnsembleStep(model, version, {INPUT_NAME: INPUT_NAME}, {spec.name: spec.name for spec in outputs}),
        ]
        config = ensemble_config(name, self.max_batch, [FRAMES], outputs, steps, {MODEL_CARD_KEY: self.card.to_json()})
        self._folder(name, config, labels=True)

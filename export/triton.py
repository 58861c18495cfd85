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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..card.model_card import ModelCard
from ..contract import (
    BATCH_DELAY_MS,
    ENGINE_SUFFIXES,
    FRAMES_INPUT,
    INPUT_NAME,
    LABELS_FILE,
    MAX_PIXELS,
    MODEL_CARD_KEY,
    MODEL_VERSION,
)
from ..errors import AibError, OptionError
from ..protocol.generated import model_config_pb2 as config_pb
from ..protocol.signature import ModelSignature, TensorSpec
from ..protocol.triton_config import KINDS, EnsembleStep, Scheduling, config_text, ensemble_config, model_config
from ..runtime.predictor import check_batch_limit
from .triton_python import CLASSIFIER_TEMPLATE, PREPROCESS_TEMPLATE, python_parameters, write_model_script

BACKENDS = ("onnxruntime", "tensorrt", "python")
PLATFORMS = {"onnxruntime": ("onnxruntime_onnx", "model.onnx"), "tensorrt": ("tensorrt_plan", "model.plan")}
PYTHON_MODEL_FILE = "model.onnx"  # beside model.py; the classifier template opens it by this name
PREPROCESS_SUFFIX = "_preprocess"
ENSEMBLE_SUFFIX = "_frames"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")


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
            raise OptionError(f"--kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.backend is not None and self.backend not in BACKENDS:
            raise OptionError(f"--backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.version < 1 or self.instances < 1 or self.max_delay_us < 0:
            raise AibError("--version and --instances must be >= 1, --max-delay-us >= 0")
        if self.max_pixels < 1:
            raise OptionError(f"--max-pixels: expected a positive pixel count, got {self.max_pixels}")


def card_and_precision(model: Path, backend: str) -> tuple[ModelCard, str]:
    """The model card and precision (fp32, fp16 or int8) of an ONNX file (read by ONNX Runtime, which also
    checks the file's outputs against the contract) or of an engine (its sidecar, read once; no TensorRT needed)."""
    if backend == "tensorrt":
        from ..backends.tensorrt.sidecar import read_sidecar, sidecar_card, sidecar_precision

        sidecar = read_sidecar(model)
        return sidecar_card(model, sidecar), sidecar_precision(sidecar)
    from ..backends.onnxrt import OnnxrtRunner

    with OnnxrtRunner(model, device="cpu") as runner:
        return runner.card, runner.precision


def choose_backend(model: Path, options: TritonOptions) -> str:
    """The backend for MODEL: --backend, else by its suffix; one line when the two do not fit."""
    if not model.is_file():
        raise AibError(f"model {model}: file not found")
    if model.suffix != ".onnx" and model.suffix not in ENGINE_SUFFIXES:
        raise AibError(
            f"model {model}: expected an .onnx file or a TensorRT engine (.engine/.plan), got {model.suffix or 'no suffix'}"
        )
    engine = model.suffix in ENGINE_SUFFIXES
    backend = options.backend or ("tensorrt" if engine else "onnxruntime")
    if engine and backend != "tensorrt":
        raise AibError(f"--backend {backend}: runs .onnx files; {model.name} is a TensorRT engine (use --backend tensorrt)")
    if not engine and backend == "tensorrt":
        raise AibError(
            f"--backend tensorrt: takes a TensorRT engine (.engine/.plan), got {model.name}; build one with "
            "`aib export engine`, or use --backend onnxruntime"
        )
    if backend == "tensorrt" and options.kind != "gpu":
        raise AibError("--kind cpu: a TensorRT engine runs on a GPU instance only")
    if options.python_path and backend != "python" and not options.frames:
        raise AibError(
            f"--python-path: only Python-backend models read it (--backend python, or --frames); "
            f"--backend {backend} without --frames writes none"
        )
    if backend == "python" and options.frames:
        raise AibError(
            "--frames: the python backend takes frames itself; --frames adds an ensemble to --backend onnxruntime or tensorrt"
        )
    return backend


def write_repository(model: Path, repository: Path, options: TritonOptions = TritonOptions()) -> list[Path]:
    """Write REPOSITORY/NAME (and with --frames NAME_preprocess and NAME_frames) for MODEL; return the
    model folders, the one clients call with `images` first."""
    options.validate()
    backend = choose_backend(model, options)
    card, precision = card_and_precision(model, backend)
    name = options.name or card.serving_name(precision)
    if not NAME_PATTERN.match(name):
        raise OptionError(f"--name: {name!r} is not a usable model name (letters, digits, '_', '.', '-')")
    max_batch = check_batch_limit(options.max_batch, card.batch_limit)  # the rule `aib serve` applies
    if repository.exists() and not repository.is_dir():
        raise AibError(f"--repository {repository}: exists and is not a folder")
    try:  # after every check, so a refused model leaves no folder; a place the machine refuses names the flag
        repository.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AibError(f"--repository {repository}: cannot create {error.filename or repository} ({error.strerror})") from None
    names = [name, name + PREPROCESS_SUFFIX, name + ENSEMBLE_SUFFIX] if options.frames else [name]
    for entry in names:
        if (repository / entry / str(options.version)).exists():
            raise AibError(f"{repository / entry / str(options.version)}: already exists; pick another --version or remove it")
    writer = _Writer(repository, options, ModelSignature(card, name, max_batch))
    if backend == "python":
        writer.python_model(model)
    else:
        writer.backend_model(backend, model)
    if options.frames:
        writer.preprocess_model(names[1])
        writer.ensemble(names[2], names[1])
    return [repository / entry for entry in names]


@dataclass(frozen=True)
class _Writer:
    """Writes the folders of one `aib export triton` call, every config from the model's signature."""

    repository: Path
    options: TritonOptions
    signature: ModelSignature

    def _folder(self, name: str, config: config_pb.ModelConfig, labels: bool) -> Path:
        folder = self.repository / name
        version_folder = folder / str(self.options.version)
        version_folder.mkdir(parents=True)
        if labels:
            (folder / LABELS_FILE).write_text("\n".join(self.signature.card.labels) + "\n", encoding="utf-8")
        (folder / "config.pbtxt").write_text(config_text(config), encoding="utf-8")
        return version_folder

    def _config(
        self,
        name: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        parameters: dict[str, str],
        *,
        platform: str = "",
        backend: str = "",
        kind: str | None = None,
        batching: bool = True,
    ) -> config_pb.ModelConfig:
        options = self.options
        scheduling = Scheduling(options.max_delay_us if batching else None, options.instances, kind or options.kind)
        return model_config(
            name, self.signature.max_batch, inputs, outputs, parameters, platform=platform, backend=backend, scheduling=scheduling
        )

    def _python_parameters(self) -> dict[str, str]:
        return python_parameters(self.signature.card, self.options.max_pixels, self.options.python_path)

    def backend_model(self, backend: str, model: Path) -> None:
        platform, filename = PLATFORMS[backend]
        signature = self.signature
        config = self._config(
            signature.name, [signature.images], signature.outputs, {MODEL_CARD_KEY: signature.card.to_json()}, platform=platform
        )
        shutil.copyfile(model, self._folder(signature.name, config, labels=True) / filename)

    def python_model(self, model: Path) -> None:
        """`images` as the ONNX file takes it, or `frames`: both optional, one per request."""
        signature = self.signature
        config = self._config(
            signature.name, signature.either_input, signature.outputs, self._python_parameters(), backend="python"
        )
        version_folder = self._folder(signature.name, config, labels=True)
        shutil.copyfile(model, version_folder / PYTHON_MODEL_FILE)
        write_model_script(CLASSIFIER_TEMPLATE, version_folder)

    def preprocess_model(self, name: str) -> None:
        """Decoding is CPU work whatever the model runs on; one request at a time per instance."""
        config = self._config(
            name,
            [self.signature.frames],
            [self.signature.images],
            self._python_parameters(),
            backend="python",
            kind="cpu",
            batching=False,
        )
        write_model_script(PREPROCESS_TEMPLATE, self._folder(name, config, labels=False))

    def ensemble(self, name: str, preprocess: str) -> None:
        signature, version = self.signature, self.options.version
        steps = [
            EnsembleStep(preprocess, version, {FRAMES_INPUT: FRAMES_INPUT}, {INPUT_NAME: INPUT_NAME}),
            EnsembleStep(signature.name, version, {INPUT_NAME: INPUT_NAME}, {name: name for name in signature.output_names}),
        ]
        config = ensemble_config(
            name, signature.max_batch, [signature.frames], signature.outputs, steps, {MODEL_CARD_KEY: signature.card.to_json()}
        )
        self._folder(name, config, labels=True)

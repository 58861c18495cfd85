"""A served model's tensors, derived once from its model card.

Every surface that describes the model on the wire reads this one signature: the KServe v2 metadata and
model config of `aib serve`, the Triton `config.pbtxt` of `aib export triton`, the request parsers and the
response builders. Dims leave out the batch dimension, as Triton's model config does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..card.model_card import ModelCard
from ..contract import FRAMES_INPUT, INPUT_NAME, MODEL_VERSION, output_names

# numpy dtype name (or "bytes" for encoded pictures) -> the KServe v2 datatype; Triton's config type is derived.
KSERVE_DATATYPES = {
    "float32": "FP32",
    "float16": "FP16",
    "int32": "INT32",
    "int64": "INT64",
    "int8": "INT8",
    "uint8": "UINT8",
    "bytes": "BYTES",
}
LABELLED_OUTPUT = "logits"  # Triton's classification extension names its classes from the labels file
OUTPUT_DTYPES = {"logits": "float32", "attention": "float32", "attention_index": "int32"}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name, or "bytes" for one encoded JPEG or PNG per row
    dims: tuple[int, ...]  # without the batch dimension
    optional: bool = False

    @property
    def datatype(self) -> str:
        """The KServe v2 datatype (FP32, INT32, BYTES)."""
        return KSERVE_DATATYPES[self.dtype]

    @property
    def triton_type(self) -> str:
        """The name of Triton's config `DataType` (TYPE_FP32, TYPE_INT32, TYPE_STRING for BYTES)."""
        return "TYPE_STRING" if self.dtype == "bytes" else f"TYPE_{self.datatype}"

    def described(self) -> str:
        """As an error message shows it: `'images' (FP32 [N, 3, 32, 32])`."""
        return f"{self.name!r} ({self.datatype} [N{''.join(f', {dim}' for dim in self.dims)}])"


@dataclass(frozen=True)
class ModelSignature:
    """The model as a server publishes it: name, version, largest batch, inputs and outputs.

    It takes one of two inputs per request: `images`, exactly the ONNX contract's input, or `frames`, one
    encoded picture per row that the server decodes and preprocesses."""

    card: ModelCard
    name: str
    max_batch: int
    version: str = str(MODEL_VERSION)

    @classmethod
    def of(cls, card: ModelCard, precision: str, max_batch: int | None = None) -> ModelSignature:
        """The signature of a card's model run in `precision` (which names it), at most `max_batch` rows."""
        return cls(card, card.serving_name(precision), card.batch_limit if max_batch is None else max_batch)

    @property
    def images(self) -> TensorSpec:
        size = self.card.input_size
        return TensorSpec(INPUT_NAME, "float32", (3, size, size))

    @property
    def frames(self) -> TensorSpec:
        return TensorSpec(FRAMES_INPUT, "bytes", (1,))

    @property
    def either_input(self) -> tuple[TensorSpec, TensorSpec]:
        """The inputs of a model that decodes frames itself (`aib serve`, a Triton Python-backend model): both
        optional, one per request."""
        return replace(self.images, optional=True), replace(self.frames, optional=True)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return tuple(self.output(name) for name in self.output_names)

    @property
    def output_names(self) -> tuple[str, ...]:
        return output_names(self.card.architecture.quantized)

    def output(self, name: str) -> TensorSpec:
        att = self.card.att_dim
        dims = (self.card.architecture.num_classes,) if name == "logits" else (1, att, att)
        return TensorSpec(name, OUTPUT_DTYPES[name], dims)

    def serves(self, name: str, version: str) -> bool:
        """Whether a request naming this model and version (empty: any) reaches it."""
        return name == self.name and version in ("", self.version)

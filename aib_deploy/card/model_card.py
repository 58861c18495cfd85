"""The model card: everything a deployed AIB model needs besides its graph.

One JSON document, stored in the ONNX file's `metadata_props` under
`MODEL_CARD_KEY`, so the runtime can preprocess frames, name classes and read
the anchor table without PyTorch or the original checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from ..contract import DEFAULT_MAX_BATCH, INPUT_NAME, MODEL_CARD_KEY
from ..errors import AibError
from .architecture import Architecture

SCHEMA_VERSION = 1
# Which weights of a `model_states` checkpoint (the paper's CUB code keeps an EMA copy).
WEIGHT_CHOICES = ("net", "net_ema")


@dataclass(frozen=True)
class ModelCard:
    architecture: Architecture
    dataset: str
    labels: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    anchors: tuple[float, ...] | None
    checkpoint_sha256: str
    checkpoint_weights: str
    aib_deploy_version: str
    opset: int | None = None
    max_batch: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return self.architecture.input_size

    @property
    def att_dim(self) -> int:
        return self.architecture.att_dim

    @property
    def batch_limit(self) -> int:
        """The largest batch the model takes: the card's max batch, else the contract's default."""
        return self.max_batch or DEFAULT_MAX_BATCH

    @property
    def precision(self) -> str:
        """fp32, fp16 or int8: what an exported ONNX file runs in, by the quantization record of its card."""
        return self.extra.get("quantization", {}).get("precision", "fp32")

    @property
    def precision_label(self) -> str:
        """The precision as benchmark tables show it: INT8 files name the region left in float32."""
        region = self.extra.get("quantization", {}).get("float_region")
        return f"{self.precision} (float {region})" if self.precision == "int8" and region else self.precision

    def serving_name(self, precision: str) -> str:
        """The model's name on a server (Triton repository entry, `aib serve`'s KServe v2 endpoint)."""
        return f"aib_{self.dataset}_{self.architecture.name}_{precision}"

    def with_max_batch(self, limit: int) -> ModelCard:
        """This card with its max batch bounded by `limit` (an engine's profile, a server's setting)."""
        return replace(self, max_batch=min(self.max_batch or limit, limit))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["architecture"] = self.architecture.to_dict()
        data["input"] = {
            "name": INPUT_NAME,
            "layout": "NCHW",
            "color": "RGB",
            "height": self.input_size,
            "width": self.input_size,
            "scale": "1/255",
        }
        data["att_dim"] = self.att_dim
        data["schema_version"] = SCHEMA_VERSION
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model card") -> ModelCard:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("architecture"), dict):
                raise TypeError("expected a JSON object with an `architecture` object")
            card = cls(
                architecture=Architecture.from_dict(data["architecture"]),
                dataset=data["dataset"],
                labels=tuple(data["labels"]),
                mean=tuple(data["mean"]),
                std=tuple(data["std"]),
                anchors=tuple(data["anchors"]) if data.get("anchors") is not None else None,
                checkpoint_sha256=data["checkpoint_sha256"],
                checkpoint_weights=data["checkpoint_weights"],
                aib_deploy_version=data["aib_deploy_version"],
                opset=data.get("opset"),
                max_batch=data.get("max_batch"),
                extra=data.get("extra", {}),
            )
            problem = card_problem(card, data.get("schema_version", SCHEMA_VERSION))
        except (ValueError, KeyError, TypeError, AttributeError, AibError) as error:
            raise AibError(f"{source}: model card is not valid ({type(error).__name__}: {error})") from None
        if problem is not None:
            raise AibError(f"{source}: model card is not valid ({problem})")
        return card


def finite_numbers(values: object, count: int | None = None) -> bool:
    return (
        isinstance(values, tuple)
        and (count is None or len(values) == count)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    )


def card_problem(card: ModelCard, schema_version: object) -> str | None:
    """What makes a card unusable though it parsed (a value of the wrong type or out of range), or None:
    read once here, so no command meets it later as a traceback or a NaN."""
    arch = card.architecture
    if not isinstance(schema_version, int) or not 1 <= schema_version <= SCHEMA_VERSION:
        return f"schema_version {schema_version!r}: this aib-deploy reads 1 to {SCHEMA_VERSION}"
    for name in ("num_classes", "input_size", "att_dim"):
        value = getattr(arch, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return f"architecture {name}: expected a positive whole number, got {value!r}"
    if not all(isinstance(label, str) and label for label in card.labels):
        return "labels: expected non-empty strings"
    if len(card.labels) != arch.num_classes:
        return f"{len(card.labels)} labels for a model of {arch.num_classes} classes; re-export it with matching --labels"
    if not finite_numbers(card.mean, 3) or not finite_numbers(card.std, 3) or min(card.std) <= 0:
        return f"mean and std: expected 3 finite numbers each, std above 0, got {card.mean} and {card.std}"
    if arch.quantized and not finite_numbers(card.anchors, arch.qt_num):
        got = "none" if card.anchors is None else f"{len(card.anchors)} values, not all finite numbers"
        return f"anchors: expected {arch.qt_num} finite numbers (qt_num), got {got}"
    if card.max_batch is not None and (not isinstance(card.max_batch, int) or card.max_batch < 1):
        return f"max_batch: expected a positive whole number or null, got {card.max_batch!r}"
    return None


def card_from_onnx(model, source: str) -> ModelCard:
    """The card in an ONNX ModelProto's `metadata_props`."""
    return card_from_metadata({prop.key: prop.value for prop in model.metadata_props}, source)


def card_from_metadata(metadata: Mapping[str, str], source: str) -> ModelCard:
    """The card stored in a model's metadata (ONNX `metadata_props`, ONNX Runtime's custom metadata map)."""
    if MODEL_CARD_KEY not in metadata:
        raise AibError(f"{source}: no aib-deploy model card; export it with `aib export onnx`")
    return ModelCard.from_json(metadata[MODEL_CARD_KEY], source=source)

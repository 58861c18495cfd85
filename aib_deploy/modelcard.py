"""The model card: everything a deployed AIB model needs besides its graph.

One JSON document, stored in the ONNX file's `metadata_props` under
`MODEL_CARD_KEY`, so the runtime can preprocess frames, name classes and read
the anchor table without PyTorch or the original checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .architecture import Architecture
from .errors import AibError

MODEL_CARD_KEY = "aib_deploy.model_card"
SCHEMA_VERSION = 1


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

    def to_dict(self) -> dict:
        data = asdict(self)
        data["architecture"] = self.architecture.to_dict()
        data["input"] = {
            "name": "images",
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
    def from_json(cls, text: str, source: str = "model card") -> "ModelCard":
        try:
            data = json.loads(text)
            return cls(
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
        except (ValueError, KeyError, TypeError) as error:
            raise AibError(f"{source}: model card is not valid ({type(error).__name__}: {error})") from None

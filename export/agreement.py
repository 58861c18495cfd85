"""Export's side of the agreement check: writing its record into the reduced-precision file's card.

The figures, the gate and running both models live in `aib_deploy.runtime.compare`, the one home
of model comparison.
"""

from __future__ import annotations

from pathlib import Path

from ..card.model_card import ModelCard
from ..contract import MODEL_CARD_KEY


def write_card(path: Path, card: ModelCard) -> None:
    """Replace (or add) the model card in the ONNX file's metadata."""
    import onnx

    model = onnx.load(str(path))
    set_card(model, card)
    onnx.save(model, str(path))


def set_card(model, card: ModelCard) -> None:
    """Replace (or add) the model card in a ModelProto's metadata, for a caller that still holds the model."""
    for prop in model.metadata_props:
        if prop.key == MODEL_CARD_KEY:
            prop.value = card.to_json()
            return
    model.metadata_props.add(key=MODEL_CARD_KEY, value=card.to_json())

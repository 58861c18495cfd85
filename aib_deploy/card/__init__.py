"""What a deployed model is, without its graph: architecture, presets and the model card.

Pure Python (no torch, no onnx), so every floor above can read a card.
"""

from .architecture import Architecture
from .model_card import ModelCard, card_from_metadata

__all__ = ["Architecture", "ModelCard", "card_from_metadata"]

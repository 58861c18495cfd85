"""Dataset presets: class labels and the normalization each family was trained with.

VGG-CIFAR and WRN-CIFAR were trained with different CIFAR constants (the
paper's two code bases), so normalization depends on the family, labels on
the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import AibError, OptionError

CIFAR10_LABELS = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR100_LABELS = (
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
)

# The synthetic glyph classes the demo model is trained on (aib_deploy.synthetic).
GLYPH_LABELS = ("disc", "ring", "square", "triangle", "plus", "star", "arrow", "crescent")

NORMALIZATION = {
    "vgg_cifar": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "wrn_cifar": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cub": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

DATASET_CLASSES = {"cifar10": 10, "cifar100": 100, "cub": 200, "glyphs": len(GLYPH_LABELS)}
DATASETS = tuple(DATASET_CLASSES)
NORMALIZATION_BOUND = 1e6  # |mean| and std at most this, std at least its inverse: float32 stays finite


@dataclass(frozen=True)
class Preprocessing:
    """How to turn an RGB image in [0, 1] into the network input, and what its classes are called."""

    dataset: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: tuple[str, ...]


def default_labels(dataset: str, num_classes: int) -> tuple[str, ...]:
    if dataset == "cifar10":
        return CIFAR10_LABELS
    if dataset == "cifar100":
        return CIFAR100_LABELS
    if dataset == "glyphs":
        return GLYPH_LABELS
    # CUB class names ship with the dataset, not with aib-deploy: pass --labels.
    return tuple(f"class_{index:03d}" for index in range(num_classes))


def guess_dataset(family: str, num_classes: int, hint: str | None = None) -> str:
    """The dataset a checkpoint was trained on: its own `args.dataset`, else the class count."""
    if hint and hint.lower() in DATASET_CLASSES:
        return hint.lower()
    if family == "cub":
        return "cub"
    return {10: "cifar10", 100: "cifar100"}.get(num_classes, "custom")


def resolve_preprocessing(
    family: str,
    num_classes: int,
    dataset: str | None = None,
    dataset_hint: str | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    labels: tuple[str, ...] | None = None,
) -> Preprocessing:
    """Preset values for the family and dataset, with explicit overrides taking precedence."""
    if dataset is not None and dataset not in DATASET_CLASSES and dataset != "custom":
        raise AibError(f"--dataset: unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)} or custom")
    chosen = dataset or guess_dataset(family, num_classes, dataset_hint)
    expected = DATASET_CLASSES.get(chosen)
    if expected is not None and expected != num_classes:
        raise AibError(f"--dataset: {chosen} has {expected} classes but the model predicts {num_classes}")
    if labels is not None and len(labels) != num_classes:
        raise AibError(f"--labels: {len(labels)} labels given but the model predicts {num_classes} classes")
    preset_mean, preset_std = NORMALIZATION[family]
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and len(values) != 3:
            raise AibError(f"{name}: expected 3 values (R, G, B), got {len(values)}")
    if std is not None and min(std) <= 0:
        raise OptionError(f"--std: values must be positive, got {std}")
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and not all(abs(value) <= NORMALIZATION_BOUND for value in values):
            raise OptionError(f"{name}: expected values within +-{NORMALIZATION_BOUND:g}, got {values}")
    if std is not None and min(std) < 1 / NORMALIZATION_BOUND:
        raise OptionError(f"--std: expected values of at least {1 / NORMALIZATION_BOUND:g}, got {std}")
    return Preprocessing(
        dataset=chosen,
        mean=tuple(mean or preset_mean),
        std=tuple(std or preset_std),
        labels=tuple(labels or default_labels(chosen, num_classes)),
    )


def read_labels(path: str | Path | None) -> tuple[str, ...] | None:
    """One label per line; blank lines are skipped."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first label
    except (OSError, UnicodeDecodeError) as error:
        raise AibError(f"--labels {path}: cannot read ({error.__class__.__name__}: {error})") from None
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        if label in seen:  # two classes of one name: results could not tell them apart
            raise AibError(f"--labels {path}: {label!r} is the label of classes {seen[label]} and {index}; labels must differ")
        seen[label] = index
    return labels

"""The Python-backend models of `aib export triton`: their `model.py` and the parameters it reads.

The two `model.py` files are templates in `triton_models/`, written with `environment.py` (the code
that finds aib-deploy) inserted at their mark:
- `classifier.py` (`--backend python`) runs the model through aib-deploy's Predictor on ONNX
  Runtime and takes `images` or `frames`;
- `preprocess.py` (the first step of the `--frames` ensemble) turns `frames` into `images`.

Triton's Python backend runs `model.py` in a stub that embeds the system's libpython, so it sees
the system's site-packages, not the virtual environment that wrote the repository. That
environment's site-packages go into the parameter PYTHON_PATH_KEY; `model.py` adds those that
exist on the server, after any folders given with `--python-path` (Triton 2.51's Python backend,
the one nvidia-pytriton 0.7 bundles, needs NumPy before 2, which one such folder can hold; its stub
ignores PYTHONPATH). In a Triton container with aib-deploy pip-installed none of them need exist
and the container's own packages are used.
"""

from __future__ import annotations

import os
import site
from pathlib import Path

from ..card.model_card import ModelCard
from ..contract import MODEL_CARD_KEY

TEMPLATES = Path(__file__).with_name("triton_models")
CLASSIFIER_TEMPLATE = "classifier.py"
PREPROCESS_TEMPLATE = "preprocess.py"
MODEL_SCRIPT = "model.py"  # the file name Triton's Python backend runs
ENVIRONMENT = "environment.py"  # inserted into every template at ENVIRONMENT_MARK
ENVIRONMENT_MARK = "# <exporting environment>\n"
# The keys model.py reads. environment.py spells PYTHON_PATH_KEY out: it runs before aib-deploy is importable.
PYTHON_PATH_KEY = "aib_deploy.python_path"
MAX_PIXELS_KEY = "aib_deploy.max_pixels"


def exporting_python_path() -> str:
    """This interpreter's site-packages folders, joined with os.pathsep (a venv's own, or the system's)."""
    folders = dict.fromkeys(str(Path(folder).resolve()) for folder in site.getsitepackages() if Path(folder).is_dir())
    return os.pathsep.join(folders)


def python_parameters(card: ModelCard, max_pixels: int, python_path: tuple[str, ...] = ()) -> dict[str, str]:
    """The config parameters of a Python-backend model: the card (input size, mean, std), where to find
    aib-deploy (`python_path` first), and the frame size limit."""
    folders = os.pathsep.join([*(str(Path(folder).resolve()) for folder in python_path), exporting_python_path()])
    return {MODEL_CARD_KEY: card.to_json(), PYTHON_PATH_KEY: folders, MAX_PIXELS_KEY: str(max_pixels)}


def config_parameter(config: dict, key: str) -> str | None:
    """A string parameter of the model config Triton hands to `initialize` (as JSON), or None."""
    return config.get("parameters", {}).get(key, {}).get("string_value")


def write_model_script(template: str, version_folder: Path) -> None:
    """The template as model.py, with the code that finds aib-deploy (environment.py, less its docstring)
    where the template marks it: one copy of that code for every template."""
    environment = (TEMPLATES / ENVIRONMENT).read_text(encoding="utf-8")
    environment = environment[environment.index('"""', 3) + 3 :].lstrip("\n")
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    (version_folder / MODEL_SCRIPT).write_text(text.replace(ENVIRONMENT_MARK, environment), encoding="utf-8")

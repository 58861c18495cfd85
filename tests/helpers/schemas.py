"""The JSON the tools write, checked against its schema in aib_deploy/data/ (NAME.schema.json)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema

SCHEMA_FOLDER = resources.files("aib_deploy") / "data"


def schema(name: str) -> dict:
    return json.loads((SCHEMA_FOLDER / f"{name}.schema.json").read_text())


def validated(document: dict | str | Path, name: str) -> dict:
    """`document` (a dict, or a JSON file) after checking it against NAME.schema.json."""
    if not isinstance(document, dict):
        document = json.loads(Path(document).read_text())
    jsonschema.validate(document, schema(name))
    return document

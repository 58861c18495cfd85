"""The JSON the tools write, checked against its schema in aib_deploy/data/ (NAME.schema.json).

The schemas refer to each other by `$id` (a sidecar holds a model card); a registry of all of them
resolves those references here, with nothing fetched.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

SCHEMA_FOLDER = resources.files("aib_deploy") / "data"
SCHEMAS = {
    entry.name.removesuffix(".schema.json"): json.loads(entry.read_text())
    for entry in SCHEMA_FOLDER.iterdir()
    if entry.name.endswith(".schema.json")
}
REGISTRY = Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in SCHEMAS.values())


def schema(name: str) -> dict:
    return SCHEMAS[name]


def validated(document: dict | str | Path, name: str) -> dict:
    """`document` (a dict, or a JSON file) after checking it against NAME.schema.json."""
    if not isinstance(document, dict):
        document = json.loads(Path(document).read_text())
    jsonschema.Draft202012Validator(schema(name), registry=REGISTRY).validate(document)
    return document

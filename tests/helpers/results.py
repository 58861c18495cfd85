"""Reading JSON-lines results, each line validated against the one result schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema

from aib_deploy.runtime.result import SCHEMA_FILE

SCHEMA = json.loads((resources.files("aib_deploy") / "data" / SCHEMA_FILE).read_text())


def validate(record: dict) -> dict:
    jsonschema.validate(record, SCHEMA)
    return record


def read_results(path: Path) -> tuple[dict, list[dict]]:
    """(model record, frame records) of a results file, after checking every line against the schema."""
    records = [validate(json.loads(line)) for line in Path(path).read_text().splitlines()]
    assert records and records[0]["kind"] == "model", "the first record is the model record"
    assert all(record["kind"] == "frame" for record in records[1:]), "one model record, then frames"
    return records[0], records[1:]

"""The schemas in aib_deploy/data/ that the tools' JSON is checked against are themselves valid schemas."""

import json

import jsonschema
import pytest

from tests.helpers.schemas import SCHEMA_FOLDER

SCHEMAS = sorted(entry.name for entry in SCHEMA_FOLDER.iterdir() if entry.name.endswith(".schema.json"))


def test_every_writer_has_its_schema():
    assert SCHEMAS == [
        "bench.schema.json",
        "command.schema.json",
        "eval.schema.json",
        "info.schema.json",
        "model_card.schema.json",
        "result.schema.json",
        "sidecar.schema.json",
        "summary.schema.json",
    ]


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_is_valid_and_named_by_its_file(name):
    schema = json.loads((SCHEMA_FOLDER / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/" + name) and schema["title"] and schema["description"]

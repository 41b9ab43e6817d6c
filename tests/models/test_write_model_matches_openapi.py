"""The write model against the vendored OpenAPI document: same properties, types, formats, enums, bounds."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite

OPENAPI = json.loads(
    resources.files("airflow_provider_kizen").joinpath("schemas/scheduled-activity.openapi.json").read_text()
)
OPENAPI_SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]
WRITE_REQUEST = OPENAPI_SCHEMAS["ScheduledActivityV2WriteRequest"]
MODEL_SCHEMA = ScheduledActivityWrite.model_json_schema()
COMPARED_KEYWORDS = ("type", "format", "minimum", "maximum", "minLength", "maxLength")


def openapi_node(node: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and single-item allOf to the schema that describes the value."""
    while True:
        if "$ref" in node:
            node = OPENAPI_SCHEMAS[node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        else:
            return node


def model_node(node: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's `| None` branch and follow $ref into $defs."""
    if "anyOf" in node:
        (node,) = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
    if "$ref" in node:
        node = MODEL_SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def compare(openapi: dict[str, Any], model: dict[str, Any], where: str) -> None:
    openapi, model = openapi_node(openapi), model_node(model)
    if "properties" in openapi:
        assert set(model["properties"]) == set(openapi["properties"]), where
        assert set(openapi.get("required", [])) <= set(model.get("required", [])), where
        assert model.get("additionalProperties") is False, f"{where} must reject unknown fields"
        for name, prop in openapi["properties"].items():
            compare(prop, model["properties"][name], f"{where}.{name}")
        return
    for keyword in COMPARED_KEYWORDS:
        assert model.get(keyword) == openapi.get(keyword), f"{where}: {keyword}"
    assert set(model.get("enum", [])) == set(openapi.get("enum", [])), f"{where}: enum"
    if openapi.get("type") == "array":
        compare(openapi["items"], model["items"], f"{where}[]")


def test_the_vendored_document_is_the_one_we_read():
    assert "ScheduledActivityV2WriteRequest" in OPENAPI_SCHEMAS
    assert "/api/activities/scheduled-activity" in json.dumps(OPENAPI["paths"])


def test_write_model_matches_the_openapi_document():
    compare(WRITE_REQUEST, MODEL_SCHEMA, "ScheduledActivityV2WriteRequest")


def test_kizen_is_stricter_than_its_schema_and_so_are_we():
    """The OpenAPI requires nothing; Kizen (and the model) require due_datetime."""
    assert MODEL_SCHEMA["required"] == ["due_datetime"]


def test_notify_mentioned_default_matches():
    default = WRITE_REQUEST["properties"]["notify_mentioned"]["default"]
    assert ScheduledActivityWrite.model_fields["notify_mentioned"].default is default


@pytest.mark.parametrize("name", sorted(WRITE_REQUEST["properties"]))
def test_null_is_accepted_exactly_where_the_schema_allows_it(name):
    payload = {"due_datetime": "2026-03-02T09:00:00Z", "activity_object_name": "follow_up_call", name: None}
    if name == "activity_object_name":
        payload["activity_object_id"] = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    if WRITE_REQUEST["properties"][name].get("nullable"):
        assert ScheduledActivityWrite.model_validate(payload).to_request_json()[name] is None
    else:
        with pytest.raises(ValidationError, match="may not be null"):
            ScheduledActivityWrite.model_validate(payload)


def test_deprecated_fields_are_the_ones_the_schema_deprecates():
    entity_schema = OPENAPI_SCHEMAS["_AssociatedEntityWriteRequest"]["properties"]
    deprecated = {name for name, prop in entity_schema.items() if prop.get("deprecated")}
    assert deprecated == {"custom_object_id", "entity_id"}
    for name in deprecated:
        with pytest.warns(DeprecationWarning, match=f"{name} is deprecated"):
            ScheduledActivityWrite.model_validate(
                {
                    "due_datetime": "2026-03-02T09:00:00Z",
                    "activity_object_name": "follow_up_call",
                    "associated_entities": [
                        {
                            "custom_object": {"name": "client_client"},
                            "entity": {"name": "ada.lovelace@example.com"},
                            name: "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                        }
                    ],
                }
            )

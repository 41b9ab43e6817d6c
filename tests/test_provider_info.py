"""get_provider_info(): valid for Airflow, and what Airflow makes of it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import airflow
import jsonschema
import pytest

from airflow_provider_kizen import __version__, get_provider_info
from airflow_provider_kizen.client.config import KNOWN_EXTRAS, parse_connection
from airflow_provider_kizen.client.errors import KizenConfigError

AIRFLOW_DIR = Path(airflow.__file__).parent


def schema(name: str) -> dict:
    return json.loads((AIRFLOW_DIR / name).read_text())


def test_validates_against_airflows_provider_info_schema():
    jsonschema.validate(get_provider_info(), schema("provider_info.schema.json"))


def test_connection_form_validates_against_the_provider_yaml_schema():
    """provider_info.schema.json does not describe conn-fields; provider.yaml.schema.json does."""
    connection_types = schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], connection_types)


def test_declares_the_kizen_connection_form():
    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["connection-type"] == "kizen"
    assert connection_type["hook-class-name"] == "airflow_provider_kizen.hooks.kizen.KizenHook"
    behaviour = connection_type["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "Base URL", "login": "User ID", "password": "API key"}
    assert set(behaviour["placeholders"]) == {"host", "login", "password"}
    assert set(behaviour["hidden-fields"]) == {"schema", "port"}
    assert connection_type["conn-fields"]["business_id"]["label"] == "Business ID"


def test_every_declared_module_imports():
    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            assert entry["integration-name"] == info["integrations"][0]["integration-name"]
            for module in entry["python-modules"]:
                importlib.import_module(module)
    hook_module, _, hook_class = info["connection-types"][0]["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(hook_module), hook_class)
    assert hook.conn_type == "kizen"
    assert hook.default_conn_name == "kizen_default"


def test_version_matches_the_package_metadata():
    from importlib.metadata import version

    assert get_provider_info()["versions"] == [__version__] == [version("airflow-provider-kizen")]


def test_airflow_providers_manager_sees_the_provider():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert manager.providers["airflow-provider-kizen"].version == __version__
    hook_info = ProvidersManagerTaskRuntime().hooks["kizen"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_kizen.hooks.kizen.KizenHook"
    assert manager.field_behaviours["kizen"]["relabeling"]["host"] == "Base URL"
    widget = manager.connection_form_widgets["extra__kizen__business_id"]
    assert widget.field["schema"]["title"] == "Business ID"
    assert not widget.is_sensitive


def test_airflow_providers_list_shows_it():
    airflow_cli = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow_cli), "providers", "list", "--output", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    providers = {entry["package_name"]: entry for entry in json.loads(result.stdout)}
    assert providers["airflow-provider-kizen"]["version"] == __version__


def conn_fields() -> dict[str, dict]:
    (connection_type,) = get_provider_info()["connection-types"]
    fields: dict[str, dict] = connection_type["conn-fields"]
    return fields


def test_the_form_offers_every_extra_the_parser_reads():
    assert set(conn_fields()) == KNOWN_EXTRAS


NUMBER_FIELDS = sorted(
    name for name, field in conn_fields().items() if {"number", "integer"} & set(field["schema"]["type"])
)


@pytest.mark.parametrize("name", NUMBER_FIELDS)
def test_the_form_accepts_a_number_exactly_when_the_parser_does(name: str):
    assert len(NUMBER_FIELDS) == 9
    field_schema = conn_fields()[name]["schema"]
    types = field_schema["type"]
    probes = [-1, 0, 1, 2, 30] if "integer" in types else [-1, 0, 0.001, 0.5, 1, 30]
    conn = SimpleNamespace(
        conn_id="kizen_form", host="https://kizen.example", port=None, login="user", password="key"
    )
    for value in probes:
        form_accepts = jsonschema.Draft202012Validator(field_schema).is_valid(value)
        try:
            parse_connection(conn, {"business_id": "b", name: value})
            parser_accepts = True
        except KizenConfigError:
            parser_accepts = False
        assert form_accepts == parser_accepts, (name, value)


def test_declares_the_operators_extra_link():
    from airflow.sdk._shared.module_loading import import_string

    from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

    (link_path,) = get_provider_info()["extra-links"]
    link_class = import_string(link_path)
    assert [type(link) for link in ScheduleActivityOperator.operator_extra_links] == [link_class]

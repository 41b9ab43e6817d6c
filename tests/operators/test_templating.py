"""PlainData: a value it calls plain must be exactly what Airflow's own rendering would give back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import DAG, BaseOperator

from airflow_provider_kizen.operators.templating import PlainData

CONTEXT = {"ds": "2027-03-01"}
SAMPLES: list[Any] = [
    "Follow up on order 12",
    "two\nlines",
    "ends with a newline\n",
    "windows\r\nline end",
    "old mac\rline end",
    "100% {x} } {",
    "{{ ds }}",
    "{% if true %}yes{% endif %}",
    "{# a comment #}",
    "[[ ds ]]",
    "<< ds >>",
    "# for x in y",
    "42",
    42,
    1.5,
    True,
    None,
    ("a", "b"),
    ["a", {"note": "b\n", "n": 1}],
    {"activity_object_name": "follow_up_call", "associated_entities": [{"entity": {"name": "ada"}}]},
    {"note": "due {{ ds }}"},
]
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "default": {},
    "no trailing newline": {"jinja_environment_kwargs": {"keep_trailing_newline": False}},
    "crlf newlines": {"jinja_environment_kwargs": {"newline_sequence": "\r\n"}},
    "square delimiters": {
        "jinja_environment_kwargs": {"variable_start_string": "[[", "variable_end_string": "]]"}
    },
    "line statements": {"jinja_environment_kwargs": {"line_statement_prefix": "#"}},
    "native": {"render_template_as_native_obj": True},
}


def operator_in(dag_kwargs: dict[str, Any]) -> BaseOperator:
    with DAG("templating_check", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), **dag_kwargs):
        return BaseOperator(task_id="render")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_what_is_plain_renders_to_itself(environment: str) -> None:
    operator = operator_in(ENVIRONMENTS[environment])
    env = operator.get_template_env()
    plain = PlainData(env, operator.template_ext)
    for sample in SAMPLES:
        if plain.holds(sample):
            rendered = operator.render_template(sample, CONTEXT, env)
            assert rendered == sample, (environment, sample)
            assert type(rendered) is type(sample)


def test_the_default_environment_leaves_ordinary_payloads_to_plain_data() -> None:
    operator = operator_in({})
    plain = PlainData(operator.get_template_env(), ())
    payloads = [
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": "2027-03-01T09:00:00+00:00",
            "note": "Call about the renewal.\nBring the numbers.",
            "associated_entities": [{"entity": {"name": "ada.lovelace@example.com"}}],
            "notifications": [{"delay_amount": 15, "remind_type": "email"}],
        }
    ] * 3
    assert plain.holds(payloads)
    assert not plain.holds([*payloads, {"note": "due {{ ds }}"}])
    assert not plain.holds({"note": "windows\r\nline end"})


def test_markers_follow_the_environment() -> None:
    square = PlainData(operator_in(ENVIRONMENTS["square delimiters"]).get_template_env(), ())
    assert square.holds("{{ not a template here }}")
    assert not square.holds("[[ ds ]]")


def test_native_rendering_and_line_statements_render_everything() -> None:
    for environment in ("native", "line statements"):
        operator = operator_in(ENVIRONMENTS[environment])
        assert not PlainData(operator.get_template_env(), ()).holds("Follow up")


def test_values_airflow_must_resolve_are_not_plain() -> None:
    class Resolvable:
        def resolve(self, context: Any) -> str:
            return "resolved"

    class Label(str):
        pass

    plain = PlainData(operator_in({}).get_template_env(), ())
    assert not plain.holds([Resolvable()])
    assert not plain.holds({"note": Label("x")})
    assert not plain.holds({"a", "b"})


def test_a_file_name_with_a_template_extension_is_not_plain() -> None:
    plain = PlainData(operator_in({}).get_template_env(), (".json",))
    assert not plain.holds({"payload": "records.json"})
    assert plain.holds({"payload": "records.csv"})


def test_the_operator_keeps_plain_payloads_and_renders_templated_ones() -> None:
    from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

    plain = [{"activity_object_name": "follow_up_call", "note": f"order {n}"} for n in range(3)]
    templated = {"activity_object_name": "follow_up_call", "note": "due {{ ds }}"}
    with DAG("templating_operator", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        literal = ScheduleActivityOperator(task_id="literal", payload=plain)
        mixed = ScheduleActivityOperator(task_id="mixed", payload=[*plain, templated])

    literal_before, mixed_before = literal.payload, mixed.payload
    literal.render_template_fields(CONTEXT)  # type: ignore[arg-type]
    mixed.render_template_fields(CONTEXT)  # type: ignore[arg-type]

    assert literal.payload is literal_before
    assert mixed.payload == [*plain, {"activity_object_name": "follow_up_call", "note": "due 2027-03-01"}]
    assert mixed.payload[0] is mixed_before[0]  # only the record with a template was rebuilt

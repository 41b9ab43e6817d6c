"""Profiles: each reading of Kizen's undocumented behaviour, selected by the fixture, control API and CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.cli import _parser, profile_from_args
from airflow_provider_kizen.emulator.profiles import PROFILES, Profile, resolve_profile
from airflow_provider_kizen.emulator.testing import EmulatorHandle, running_emulator

SCHEDULED = "/api/activities/scheduled-activity"
ADA = "ada.lovelace@example.com"
CreateActivity = Callable[..., dict[str, Any]]
JORDAN = seed.EMPLOYEES[1]["id"]


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [activity["id"] for activity in response.json()["results"]]


def with_ada(note: str = "") -> dict[str, Any]:
    entity = {"custom_object": {"name": "client_client"}, "entity": {"name": ADA}}
    return {"note": note, "associated_entities": [entity]}


@pytest.mark.parametrize(
    ("kizen_emulator_profile", "term", "found"),
    [
        ("default", "lovelace", True),
        ("default", "follow-up", False),
        ("search-notes", "lovelace", False),
        ("search-notes", "renewal", True),
        ("search-notes-and-types", "follow-up call", True),
        ("search-notes-and-types", ADA, False),
    ],
)
def test_search_scope(api: httpx.Client, create_activity: CreateActivity, term: str, found: bool) -> None:
    activity = create_activity(**with_ada("Call about the RENEWAL"))

    assert ids(api.get(SCHEDULED, params={"search": term})) == ([activity["id"]] if found else [])


def test_search_matches_non_ascii_names_as_written_not_casefolded(
    api: httpx.Client, create_activity: CreateActivity
) -> None:
    company = {"custom_object": {"name": "client_company"}, "entity": {"name": "Straßenbau Müller GmbH"}}
    activity = create_activity(associated_entities=[company])

    assert ids(api.get(SCHEDULED, params={"search": "Straßenbau Müller"})) == [activity["id"]]
    assert ids(api.get(SCHEDULED, params={"search": "strassenbau"})) == []


DUE = "2026-12-01T10:00:00Z"


@pytest.mark.parametrize(
    ("kizen_emulator_profile", "window", "found"),
    [
        ("default", (DUE, DUE), True),
        ("dates-exclusive-upper", (DUE, DUE), False),
        ("dates-exclusive-upper", (DUE, "2026-12-01T10:00:01Z"), True),
        ("dates-calendar-day", (DUE, DUE), False),
        ("dates-calendar-day", ("2026-12-01T23:00:00Z", "2026-12-02T00:00:00Z"), True),
        ({"date_granularity": "day"}, ("2026-12-01T23:00:00Z", "2026-12-01T00:00:00Z"), True),
        ("dates-created", (DUE, DUE), False),
    ],
)
def test_date_filters(
    api: httpx.Client, create_activity: CreateActivity, window: tuple[str, str], found: bool
) -> None:
    activity = create_activity(due_datetime=DUE)

    listed = ids(api.get(SCHEDULED, params={"from_date": window[0], "to_date": window[1]}))
    assert listed == ([activity["id"]] if found else [])


@pytest.mark.parametrize("kizen_emulator_profile", ["dates-created"])
def test_dates_on_created_compare_the_creation_time(
    api: httpx.Client, create_activity: CreateActivity
) -> None:
    activity = create_activity(due_datetime=DUE)

    window = {"from_date": activity["created"], "to_date": activity["created"]}
    assert ids(api.get(SCHEDULED, params=window)) == [activity["id"]]


@pytest.mark.parametrize("kizen_emulator_profile", ["visibility-own-and-role"])
def test_activities_assigned_to_others_are_hidden_but_created(
    api: httpx.Client, create_activity: CreateActivity, kizen_emulator: EmulatorHandle
) -> None:
    own = create_activity()
    own_role = create_activity(role_id=seed.seed_id("role:Integrations"))
    others = create_activity(employee_id=JORDAN)
    other_role = create_activity(role_id=seed.ROLES[0]["id"])

    assert sorted(ids(api.get(SCHEDULED))) == sorted([own["id"], own_role["id"]])
    for hidden in (others, other_role):
        detail = f"{SCHEDULED}/{hidden['id']}"
        assert api.get(detail).status_code == 404
        assert api.patch(detail, json={"note": "x"}).status_code == 404
        assert api.delete(detail).status_code == 404
    # Still stored: the control plane sees everything.
    assert len(kizen_emulator.control.activities()) == 4


@pytest.mark.parametrize(
    ("kizen_emulator_profile", "rule_commits", "stored"),
    [("default", None, 0), ("commit-on-500", None, 1), ("commit-on-500", False, 0), ("default", True, 1)],
)
def test_a_500_commits_as_the_profile_says_unless_the_rule_does(
    api: httpx.Client, kizen_emulator: EmulatorHandle, rule_commits: bool | None, stored: int
) -> None:
    kizen_emulator.control.set_faults(path=SCHEDULED, rate_500=1.0, commit_on_500=rule_commits)

    response = api.post(SCHEDULED, json={"activity_object_name": "follow_up_call", "due_datetime": DUE})

    assert response.status_code == 500
    assert len(kizen_emulator.control.activities()) == stored


def test_an_entity_named_by_email_alone_resolves_the_contact(api: httpx.Client) -> None:
    body = {
        "activity_object_name": "follow_up_call",
        "due_datetime": DUE,
        "associated_entities": [{"entity": {"name": ADA.upper()}}],
    }

    response = api.post(SCHEDULED, json=body)

    assert response.status_code == 201, response.text
    assert response.json()["associated_entities"][0]["entity"]["id"] == seed.CONTACTS[0]["id"]


def test_the_control_api_switches_profiles_and_reset_restores_the_starting_one(
    kizen_emulator: EmulatorHandle,
) -> None:
    control = kizen_emulator.control
    assert control.profile() == Profile()

    control.set_profile("adversarial")
    assert control.profile() == PROFILES["adversarial"]
    control.set_profile({"search_scope": "notes"})
    assert control.profile() == Profile(search_scope="notes")

    control.reset()
    assert control.profile() == Profile()
    with httpx.Client(base_url=f"{kizen_emulator.base_url}/_emulator") as client:
        assert client.put("/profile/search-notes").status_code == 204
        assert client.get("/profile").json()["search_scope"] == "notes"
        assert client.put("/profile/no-such-profile").status_code == 404
        assert set(client.get("/profiles").json()) == set(PROFILES)


def test_running_emulator_starts_with_a_profile_and_resets_to_it() -> None:
    with running_emulator(profile="dates-calendar-day") as handle:
        handle.control.set_profile("default")
        handle.control.reset()
        assert handle.control.profile() == PROFILES["dates-calendar-day"]


def test_the_cli_builds_a_profile_from_a_name_and_single_options() -> None:
    args = _parser().parse_args(
        ["--profile", "search-notes", "--upper-bound", "exclusive", "--commit-on-500"]
    )

    assert profile_from_args(args) == Profile(
        search_scope="notes", upper_bound="exclusive", commit_on_500=True
    )
    assert profile_from_args(_parser().parse_args([])) == Profile()


def test_unknown_profile_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: default"):
        resolve_profile("nope")

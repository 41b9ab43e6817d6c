"""Activity types, custom objects, team, roles and the contact lookup, over real HTTP."""

from __future__ import annotations

import httpx

from airflow_provider_kizen.emulator import seed


def test_custom_objects_list_answers_the_credential_check(api: httpx.Client) -> None:
    response = api.get("/api/custom-objects", params={"page_size": 1})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(seed.CUSTOM_OBJECTS)
    assert body["results"][0]["name"] == "client_client"
    assert body["next"] is not None


def test_activity_types_list_and_detail_by_id_or_api_name(api: httpx.Client) -> None:
    listed = api.get("/api/activities").json()
    assert {t["api_name"] for t in listed["results"]} == {
        "follow_up_call",
        "onboarding_check_in",
        "proposal_review",
    }
    assert [
        t["api_name"] for t in api.get("/api/activities", params={"search": "review"}).json()["results"]
    ] == ["proposal_review"]

    by_name = api.get("/api/activities/onboarding_check_in").json()
    assert api.get(f"/api/activities/{by_name['id']}").json() == by_name
    assert api.get("/api/activities/no_such_type").status_code == 404


def test_team_typeahead_and_member(api: httpx.Client) -> None:
    found = api.get("/api/team/typeahead", params={"search": "priya"}).json()["results"]

    assert [member["email"] for member in found] == ["priya.natarajan@acme.example.com"]
    assert api.get(f"/api/team/{found[0]['id']}").json()["display_name"] == "Priya Natarajan"
    assert api.get("/api/team/00000000-0000-4000-8000-000000000000").status_code == 404


def test_roles_list(api: httpx.Client) -> None:
    names = [role["name"] for role in api.get("/api/role").json()["results"]]

    assert names == ["Account Manager", "Customer Success", "Sales", "Integrations"]


def test_contact_lookup_by_email(api: httpx.Client) -> None:
    found = api.get("/api/records/client_client/lookup", params={"identifier": "Grace.Hopper@example.com"})

    assert found.status_code == 200
    assert found.json()["id"] == seed.seed_id("contact:grace.hopper@example.com")
    assert found.json()["display_name"] == "Grace Hopper"
    missing = api.get("/api/records/client_client/lookup", params={"identifier": "nobody@example.com"})
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_every_example_warehouse_email_is_a_seed_contact(api: httpx.Client) -> None:
    for email in seed.CONTACT_EMAILS:
        response = api.get("/api/records/client_client/lookup", params={"identifier": email})
        assert response.status_code == 200, email

"""The emulator's seed data: one business, its API user, activity types, team, roles and records.

Every id is a fixed UUID derived from a readable name, so tests and docs can refer to seed
records by constant. The API key is a fake credential that only this emulator accepts.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

_NAMESPACE: Final = uuid.UUID("6f1c2a52-3b8e-4c1e-9a57-0d6c4f8e2b10")


def seed_id(name: str) -> str:
    """The stable UUID of the seed record called `name`."""
    return str(uuid.uuid5(_NAMESPACE, name))


BUSINESS_ID: Final = seed_id("business:acme")
BUSINESS_NAME: Final = "Acme Analytics"
USER_ID: Final = seed_id("employee:api-user")
API_KEY: Final = "kizen-emulator-api-key"

CONTACTS_OBJECT: Final[dict[str, Any]] = {
    "id": seed_id("custom-object:client_client"),
    "name": "client_client",
    "object_name": "Contacts",
    "entity_name": "Contact",
}
COMPANIES_OBJECT: Final[dict[str, Any]] = {
    "id": seed_id("custom-object:client_company"),
    "name": "client_company",
    "object_name": "Companies",
    "entity_name": "Company",
}
CUSTOM_OBJECTS: Final = (CONTACTS_OBJECT, COMPANIES_OBJECT)

ROLES: Final[tuple[dict[str, Any], ...]] = tuple(
    {"id": seed_id(f"role:{name}"), "name": name, "default_for_new_users": default}
    for name, default in (
        ("Account Manager", True),
        ("Customer Success", False),
        ("Sales", False),
        ("Integrations", False),
    )
)


def _employee(key: str, first_name: str, last_name: str, email: str, role: str | None) -> dict[str, Any]:
    return {
        "id": seed_id(f"employee:{key}"),
        "first_name": first_name,
        "last_name": last_name,
        "display_name": f"{first_name} {last_name}",
        "email": email,
        "picture_url": "",
        "account_type": "api" if key == "api-user" else "standard",
        "role_ids": [seed_id(f"role:{role}")] if role else [],
    }


EMPLOYEES: Final = (
    # The API user holds a role of its own, so that "its role's activities" means something.
    _employee("api-user", "Integration", "Bot", "integration.bot@acme.example.com", "Integrations"),
    _employee("jordan", "Jordan", "Reyes", "jordan.reyes@acme.example.com", "Account Manager"),
    _employee("priya", "Priya", "Natarajan", "priya.natarajan@acme.example.com", "Customer Success"),
    _employee("sam", "Sam", "Okafor", "sam.okafor@acme.example.com", "Sales"),
)


def _activity_type(api_name: str, name: str) -> dict[str, Any]:
    return {
        "id": seed_id(f"activity:{api_name}"),
        "name": name,
        "api_name": api_name,
        "custom_object_id": CONTACTS_OBJECT["id"],
        "is_default": False,
    }


ACTIVITY_TYPES: Final = (
    _activity_type("follow_up_call", "Follow-up Call"),
    _activity_type("onboarding_check_in", "Onboarding Check-in"),
    _activity_type("proposal_review", "Proposal Review"),
)

# The contacts match the rows of the example warehouse table, so the example DAGs resolve.
CONTACT_EMAILS: Final = (
    "ada.lovelace@example.com",
    "grace.hopper@example.com",
    "alan.turing@example.com",
    "katherine.johnson@example.com",
    "edsger.dijkstra@example.com",
    "barbara.liskov@example.com",
    "donald.knuth@example.com",
    "margaret.hamilton@example.com",
)


def _contact(email: str) -> dict[str, Any]:
    first_name, last_name = (part.capitalize() for part in email.split("@")[0].split("."))
    return {
        "id": seed_id(f"contact:{email}"),
        "custom_object_id": CONTACTS_OBJECT["id"],
        "name": f"{first_name} {last_name}",
        "display_name": f"{first_name} {last_name}",
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
    }


def _company(name: str) -> dict[str, Any]:
    return {
        "id": seed_id(f"company:{name}"),
        "custom_object_id": COMPANIES_OBJECT["id"],
        "name": name,
        "display_name": name,
        "email": "",
    }


CONTACTS: Final = tuple(_contact(email) for email in CONTACT_EMAILS)
COMPANIES: Final = tuple(
    _company(name) for name in ("Analytical Engines Ltd", "Compiler Works Inc", "Straßenbau Müller GmbH")
)
ENTITIES: Final = CONTACTS + COMPANIES

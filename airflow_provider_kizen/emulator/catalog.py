"""Lookups over the seed data, and the read shapes Kizen nests for its records."""

from __future__ import annotations

from typing import Any

from airflow_provider_kizen.emulator import seed

_EMPLOYEE_READ_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "display_name",
    "email",
    "picture_url",
    "account_type",
)


class Catalog:
    """The seed business's activity types, team, roles, custom objects and records, indexed."""

    def __init__(self) -> None:
        self.activity_types: dict[str, dict[str, Any]] = {t["id"]: t for t in seed.ACTIVITY_TYPES}
        self._activity_types_by_api_name = {t["api_name"]: t for t in seed.ACTIVITY_TYPES}
        self.employees: dict[str, dict[str, Any]] = {e["id"]: e for e in seed.EMPLOYEES}
        self.roles: dict[str, dict[str, Any]] = {r["id"]: r for r in seed.ROLES}
        self.custom_objects: dict[str, dict[str, Any]] = {o["id"]: o for o in seed.CUSTOM_OBJECTS}
        self._custom_objects_by_name = {o["name"]: o for o in seed.CUSTOM_OBJECTS}
        self.entities: dict[str, dict[str, Any]] = {e["id"]: e for e in seed.ENTITIES}
        # Contacts are named by email (case-insensitive); other records by their name.
        self._entities_by_name: dict[tuple[str, str], dict[str, Any]] = {}
        for entity in seed.ENTITIES:
            key = (
                entity["email"].lower()
                if entity["custom_object_id"] == seed.CONTACTS_OBJECT["id"]
                else entity["name"]
            )
            self._entities_by_name[(entity["custom_object_id"], key)] = entity

    def entity_by_name_anywhere(self, name: str) -> dict[str, Any] | None:
        """A record named without its custom object: a contact by email, else the one record so named."""
        contact = self.entity_by_name(seed.CONTACTS_OBJECT["id"], name)
        if contact is not None:
            return contact
        named = [entity for entity in self.entities.values() if entity["name"] == name]
        return named[0] if len(named) == 1 else None

    def activity_type(self, id_or_api_name: str) -> dict[str, Any] | None:
        return self.activity_types.get(id_or_api_name) or self._activity_types_by_api_name.get(id_or_api_name)

    def activity_type_by_api_name(self, api_name: str) -> dict[str, Any] | None:
        return self._activity_types_by_api_name.get(api_name)

    def custom_object_by_name(self, name: str) -> dict[str, Any] | None:
        return self._custom_objects_by_name.get(name)

    def entity_by_name(self, custom_object_id: str, name: str) -> dict[str, Any] | None:
        key = name.lower() if custom_object_id == seed.CONTACTS_OBJECT["id"] else name
        return self._entities_by_name.get((custom_object_id, key))

    @staticmethod
    def activity_type_read(activity_type: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": activity_type["id"],
            "name": activity_type["name"],
            "api_name": activity_type["api_name"],
            "custom_object_id": activity_type["custom_object_id"],
        }

    @staticmethod
    def employee_read(employee: dict[str, Any]) -> dict[str, Any]:
        return {field: employee[field] for field in _EMPLOYEE_READ_FIELDS}

    @staticmethod
    def role_read(role: dict[str, Any]) -> dict[str, Any]:
        return dict(role)

    def associated_entity_read(self, entity: dict[str, Any]) -> dict[str, Any]:
        custom_object = self.custom_objects[entity["custom_object_id"]]
        return {
            "custom_object": {
                "id": custom_object["id"],
                "name": custom_object["name"],
                "object_name": custom_object["object_name"],
            },
            "entity": {
                "id": entity["id"],
                "name": entity["name"],
                "email": entity["email"],
                "display_name": entity["display_name"],
            },
            "custom_object_id": custom_object["id"],
            "object_name": custom_object["object_name"],
            "object_api_name": custom_object["name"],
            "entity_id": entity["id"],
            "name": entity["name"],
            "display_name": entity["display_name"],
        }

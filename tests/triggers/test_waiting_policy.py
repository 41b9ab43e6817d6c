from __future__ import annotations

from airflow_provider_kizen.client.errors import KizenNotFoundError, KizenServerError
from airflow_provider_kizen.triggers.waiting_policy import unwatchable_message


def test_a_404_while_watching_names_the_api_users_activity_permissions() -> None:
    not_found = KizenNotFoundError("GET /api/activities/scheduled-activity/a1 → 404: Not found.", status=404)
    message = unwatchable_message("a1", not_found)
    assert message.startswith("Scheduled activity a1 cannot be watched: ")
    assert "activity permissions" in message
    assert "activity permissions" not in unwatchable_message("a1", KizenServerError("boom", status=500))

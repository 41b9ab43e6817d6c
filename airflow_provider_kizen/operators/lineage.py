"""OpenLineage for ScheduleActivityOperator: what it wrote, as a Kizen dataset, and how it went.

Only `ScheduleActivityOperator.get_openlineage_facets_on_complete` imports this module, and the
OpenLineage provider calls that only when it is installed and enabled: the provider does not depend
on OpenLineage otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs
from airflow.providers.common.compat.openlineage.facet import OutputDataset, RunFacet
from airflow.providers.openlineage.extractors import OperatorLineage

FACET_NAME = "kizen_scheduled_activities"
SCHEMA_URL = (
    "https://github.com/kizen/airflow-provider-kizen/tree/main/docs/operator.md#lineage-and-the-kizen-link"
)


@attrs.define
class KizenScheduledActivitiesRunFacet(RunFacet):
    """How the task's records went: created now, found already created, failed, or invalid."""

    created: int
    already_existed: int
    failed: int
    invalid: int

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def scheduled_activities_lineage(
    base_url: str, business_id: str, statuses: Mapping[str, int]
) -> OperatorLineage:
    """The task's output, Kizen's scheduled activities of one business, and its outcome counts.

    :param base_url: the connection's Base URL; its host (and port) name the dataset's namespace.
    :param statuses: how many records ended in each result status.
    """
    dataset = OutputDataset(
        namespace=f"kizen://{urlsplit(base_url).netloc}",
        name=f"{business_id}/scheduled-activities",
    )
    facet = KizenScheduledActivitiesRunFacet(
        created=statuses.get("created", 0),
        already_existed=statuses.get("already_existed", 0),
        failed=statuses.get("failed", 0),
        invalid=statuses.get("invalid", 0),
    )
    return OperatorLineage(outputs=[dataset], run_facets={FACET_NAME: facet})

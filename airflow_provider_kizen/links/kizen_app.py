"""A link from a ScheduleActivityOperator task to what it created, in Kizen's web app.

The task works the URL out while it runs, from its connection (`KizenConnectionConfig.web_link`),
and keeps it in XCom; the API server then only reads that XCom to draw the button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

WEB_LINK_XCOM_KEY = "kizen_web_link"


class KizenScheduledActivitiesLink(BaseOperatorLink):
    """The "Kizen" button of a ScheduleActivityOperator task: the activity it created, or the list."""

    name = "Kizen"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(ti_key=ti_key, key=WEB_LINK_XCOM_KEY)
        return url if isinstance(url, str) else ""

"""`[core] hostname_callable` for the live tests' Airflow components.

All components of a test Airflow run on one machine, so the real hostname cannot tell two Celery
workers or two triggerers apart. Each component is started with its name in KIZEN_TEST_COMPONENT, and
Airflow records that name as the hostname of its jobs and of the task instances it runs.
"""

from __future__ import annotations

import os


def hostname() -> str:
    return os.environ["KIZEN_TEST_COMPONENT"]

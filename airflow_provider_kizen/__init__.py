"""Apache Airflow provider for the Kizen CRM API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

INTEGRATION = "Kizen"
# The `kizen` connection operators, sensors and the hook use unless told otherwise.
DEFAULT_CONN_ID = "kizen_default"


def get_provider_info() -> dict[str, Any]:
    """What Airflow's ProvidersManager reads: the `kizen` connection type, its form, and our modules.

    The connection form is declared here (``conn-fields`` and ``ui-field-behaviour``) rather than by hook
    methods, which Airflow 3.2 deprecated; the UI then needs no hook import to draw the form.
    """
    return {
        "package-name": "airflow-provider-kizen",
        "name": INTEGRATION,
        "description": "Schedule Kizen CRM activities from Airflow and wait for their completion.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://developer.kizen.com",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_kizen.hooks.kizen"]}
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_kizen.operators.scheduled_activity",
                    "airflow_provider_kizen.operators.cancel",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_kizen.sensors.scheduled_activity"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_kizen.triggers.scheduled_activity"],
            }
        ],
        "extra-links": ["airflow_provider_kizen.links.kizen_app.KizenScheduledActivitiesLink"],
        "connection-types": [
            {
                "connection-type": "kizen",
                "hook-class-name": "airflow_provider_kizen.hooks.kizen.KizenHook",
                "hook-name": "Kizen",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "login": "User ID", "password": "API key"},
                    "placeholders": {
                        "host": "https://app.go.kizen.com",
                        "login": "your user id, from Kizen's My Profile page",
                        "password": "an API key created on Kizen's My Profile page",
                    },
                },
                "conn-fields": {
                    "business_id": {
                        "label": "Business ID",
                        "description": "The business id shown on Kizen's My Profile page.",
                        "schema": {"type": "string", "minLength": 1},
                    },
                    "allow_insecure_http": {
                        "label": "Allow insecure http",
                        "description": "Allow a plain http Base URL on a host other than this machine. "
                        "The API key would travel unencrypted.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "ca_bundle": {
                        "label": "CA bundle",
                        "description": "Path of a CA bundle file to verify Kizen's TLS certificate with.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "How long to wait for each read or write. Default 30.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (seconds)",
                        "description": "How long to wait to connect. Default 10.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "max_attempts": {
                        "label": "Max attempts",
                        "description": "Attempts per request, the first one included; 1 turns retries off. "
                        "Default 8.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "max_elapsed_seconds": {
                        "label": "Retry budget (seconds)",
                        "description": "No retry starts later than this after a request's first attempt. "
                        "Default 120.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "backoff_initial_seconds": {
                        "label": "First retry delay (seconds)",
                        "description": "The delay before the second attempt; it doubles per attempt, with "
                        "jitter. Default 0.5.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "backoff_max_seconds": {
                        "label": "Longest retry delay (seconds)",
                        "description": "The delay between attempts never grows past this. Default 30.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "web_url": {
                        "label": "Web app URL",
                        "description": "Where people use Kizen in a browser, for the task's Kizen link. "
                        "Default: the Base URL.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "activity_link": {
                        "label": "Link to one activity",
                        "description": "The task's Kizen link when it created one activity; {web_url} and "
                        "{activity_id} are filled in. Default {web_url}/activities/scheduled/{activity_id} "
                        "(a guess: Kizen does not document its web app's URLs).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "activities_link": {
                        "label": "Link to activities",
                        "description": "The task's Kizen link when it created several; {web_url} is "
                        "filled in. Default {web_url}/activities (a guess).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_response_bytes": {
                        "label": "Max response size (bytes)",
                        "description": "The largest response body accepted, on the wire and decompressed. "
                        "Default 33554432 (32 MiB).",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "request_deadline_seconds": {
                        "label": "Request deadline (seconds)",
                        "description": "The longest one request may take, from sending to the last byte "
                        "of the answer. Default 120.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "max_pages": {
                        "label": "Max pages per listing",
                        "description": "The most pages one listing follows. Default 1000.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                },
            }
        ],
    }

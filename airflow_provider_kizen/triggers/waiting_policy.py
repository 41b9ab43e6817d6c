"""What waiting on Kizen makes of an error: look again later, or give up.

The completion sensor and trigger share these rules, so a poke and a trigger cycle end the same way.
"""

from __future__ import annotations

from airflow_provider_kizen.client.errors import (
    KizenError,
    KizenNotFoundError,
    KizenRateLimitError,
    KizenServerError,
    KizenTransportError,
    not_visible_hint,
)
from airflow_provider_kizen.client.policy import RetryPolicy

# Errors that say "ask again later": the wait goes on. Anything else (401/403, a 404 for a deleted
# activity, a 400 for a list filter Kizen refuses...) will not change by waiting.
TRANSIENT_ERRORS: tuple[type[KizenError], ...] = (KizenRateLimitError, KizenServerError, KizenTransportError)

# However long an outage, the trigger looks again at least this often (or every poll interval, if longer).
MAX_BACKOFF_SECONDS = 600.0


def unwatchable_message(activity_id: str | None, error: KizenError) -> str:
    """Say which activity (or list) could not be read while waiting, and why, in Kizen's words."""
    if activity_id is None:
        return f"Scheduled activities cannot be listed to watch them: {error}"
    message = f"Scheduled activity {activity_id} cannot be watched: {error}"
    if isinstance(error, KizenNotFoundError):
        message = f"{message.rstrip('.')}. {not_visible_hint(activity_id)}"
    return message


def next_look_in(poll_interval: float, failed_cycles: int, error: KizenError | None) -> float:
    """Seconds until the next cycle: the poll interval, or longer after cycles that Kizen cut short.

    The delay roughly doubles, with jitter, for each failed cycle in a row, up to MAX_BACKOFF_SECONDS,
    and is never sooner than Kizen's Retry-After.
    """
    if error is None or failed_cycles < 1:
        return poll_interval
    backoff = RetryPolicy(
        backoff_initial_seconds=2 * poll_interval,
        backoff_max_seconds=max(poll_interval, MAX_BACKOFF_SECONDS),
    )
    delay = max(poll_interval, backoff.backoff_seconds(failed_cycles))
    if isinstance(error, KizenRateLimitError) and error.retry_after:
        delay = max(delay, error.retry_after)
    return delay

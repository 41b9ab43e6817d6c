"""How long to wait between attempts: RetryPolicy, exponential backoff with jitter, and Retry-After."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Caps and backoff for one logical request (all of its attempts together).

    :param max_attempts: attempts in total, the first one included; 1 disables retries.
    :param max_elapsed_seconds: no retry starts after this many seconds since the first attempt.
    :param backoff_initial_seconds: the nominal delay before the second attempt.
    :param backoff_max_seconds: the nominal delay never grows past this.
    :param backoff_multiplier: the nominal delay grows by this factor per attempt.
    :param jitter: the fraction of the nominal delay that is randomised away (0 = none, 1 = "full jitter"),
        so that many clients that failed together do not retry together.
    """

    # Eight attempts spend about a minute of nominal backoff (0.5 + 1 + ... + 30 s), so the attempt cap
    # and the time budget end a run of failures at about the same point instead of one hiding the other.
    max_attempts: int = 8
    max_elapsed_seconds: float = 120.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    backoff_multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.max_elapsed_seconds < 0 or self.backoff_initial_seconds < 0 or self.backoff_max_seconds < 0:
            raise ValueError("retry times must not be negative")
        if self.backoff_multiplier < 1:
            raise ValueError(f"backoff_multiplier must be at least 1, not {self.backoff_multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")

    def backoff_seconds(self, failed_attempts: int, rng: Callable[[], float] = random.random) -> float:
        """The delay after `failed_attempts` failures (1 for the first), with jitter applied."""
        nominal = min(
            self.backoff_max_seconds,
            self.backoff_initial_seconds * self.backoff_multiplier ** (failed_attempts - 1),
        )
        return nominal * (1 - self.jitter * rng())


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

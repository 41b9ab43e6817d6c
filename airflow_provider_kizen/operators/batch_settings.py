"""How a batch runs: its own module, so an operator checks its arguments without loading the batch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs; the operator's arguments of the same names.

    :param max_concurrency: requests in flight at once.
    :param max_requests_per_second: a cap on the batch's request rate, or None.
    :param unknown_outcome_retries: how many times a create whose outcome stayed unknown, and whose
        activity a lookup proved absent, is sent again.
    :param progress_interval: seconds between progress lines in the task log.
    :param resend_unsettled: send a record again when its outcome stays unknown and no lookup can
        settle it, accepting a possible duplicate, instead of reporting it unsettled.
    :param plan_only: records that name their activity are compared and reported (``would_update``),
        never written. Records to create are not given to a plan-only batch.
    """

    max_concurrency: int = 8
    max_requests_per_second: float | None = None
    unknown_outcome_retries: int = 3
    progress_interval: float = 5.0
    resend_unsettled: bool = False
    plan_only: bool = False

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {self.max_concurrency}")

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_kizen.client.policy import RetryPolicy, parse_retry_after


def test_backoff_grows_exponentially_up_to_the_cap():
    policy = RetryPolicy(backoff_initial_seconds=1, backoff_multiplier=2, backoff_max_seconds=5, jitter=0)
    assert [policy.backoff_seconds(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_jitter_only_shortens_the_nominal_delay():
    policy = RetryPolicy(backoff_initial_seconds=4, jitter=0.5)
    assert policy.backoff_seconds(1, rng=lambda: 0.0) == 4
    assert policy.backoff_seconds(1, rng=lambda: 0.999999) == pytest.approx(2, abs=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"jitter": 1.5}, {"backoff_multiplier": 0.5}, {"max_elapsed_seconds": -1}],
)
def test_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        RetryPolicy(**kwargs)


def test_retry_after_in_seconds():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0


def test_retry_after_as_http_date():
    now = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 25 Nov 2026 08:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 07:59:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "inf", "nan"])
def test_retry_after_absent_or_unusable(value):
    assert parse_retry_after(value) is None

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_kizen.client.pacing import (
    DEFAULT_PAUSE_SECONDS,
    MIN_REQUESTS_PER_SECOND,
    RECOVERY_INTERVAL_SECONDS,
    RECOVERY_TURNS,
    Pace,
)


class FakeTime:
    """A clock that only moves when someone sleeps: one request at a time, no real waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def pace_on(fake_time: FakeTime, rate: float | None = None) -> Pace:
    return Pace(rate, clock=fake_time.clock, sleep=fake_time.sleep)


async def turn_times(pace: Pace, fake_time: FakeTime, count: int) -> list[float]:
    times = []
    for _ in range(count):
        await pace.wait_turn()
        times.append(round(fake_time.now, 6))
    return times


async def test_uncapped_pace_never_waits(fake_time):
    assert await turn_times(pace_on(fake_time), fake_time, 5) == [0, 0, 0, 0, 0]


async def test_rate_cap_spaces_the_turns(fake_time):
    assert await turn_times(pace_on(fake_time, 10), fake_time, 4) == [0, 0.1, 0.2, 0.3]


async def test_a_429_pauses_until_retry_after_and_halves_the_rate(fake_time):
    pace = pace_on(fake_time, 10)
    await pace.wait_turn()
    pace.slow_down(2.0)
    assert pace.requests_per_second == 5
    assert await turn_times(pace, fake_time, 3) == [2.0, 2.2, 2.4]


async def test_a_429_without_retry_after_pauses_a_default_time(fake_time):
    pace = pace_on(fake_time, 10)
    pace.slow_down(None)
    assert await turn_times(pace, fake_time, 1) == [DEFAULT_PAUSE_SECONDS]


async def test_an_uncapped_pace_gets_half_the_rate_it_was_running_at(fake_time):
    pace = pace_on(fake_time)
    await turn_times(pace, fake_time, 8)  # 8 requests in the same instant
    pace.slow_down(0)
    assert pace.requests_per_second == 4


async def test_the_rate_never_drops_below_the_minimum(fake_time):
    pace = pace_on(fake_time, 1)
    for _ in range(5):
        pace.slow_down(0)
    assert pace.requests_per_second == MIN_REQUESTS_PER_SECOND


async def test_the_rate_recovers_step_by_step_up_to_the_cap(fake_time):
    pace = pace_on(fake_time, 10)
    pace.slow_down(0)
    pace.slow_down(0)
    assert pace.requests_per_second == 2.5
    fake_time.now += RECOVERY_INTERVAL_SECONDS
    await pace.wait_turn()
    assert pace.requests_per_second == 3.75
    for _ in range(5):
        fake_time.now += RECOVERY_INTERVAL_SECONDS
        await pace.wait_turn()
    assert pace.requests_per_second == 10


async def test_429s_from_requests_in_flight_during_a_pause_halve_the_rate_once(fake_time):
    pace = pace_on(fake_time, 8)
    pace.slow_down(1.0)
    pace.slow_down(1.0)
    pace.slow_down(2.0)
    assert pace.requests_per_second == 4
    assert await turn_times(pace, fake_time, 1) == [2.0]  # the longest Retry-After is honoured


async def test_the_rate_also_recovers_every_few_turns_without_a_429(fake_time):
    pace = pace_on(fake_time, 8)
    pace.slow_down(0.1)
    assert pace.requests_per_second == 4
    await turn_times(pace, fake_time, RECOVERY_TURNS)
    assert pace.requests_per_second == 6
    await turn_times(pace, fake_time, 3 * RECOVERY_TURNS)
    assert pace.requests_per_second == 8


async def test_a_steady_trickle_of_429s_does_not_drive_the_rate_to_its_floor(fake_time):
    pace = pace_on(fake_time)
    for turn in range(1, 2001):
        await pace.wait_turn()
        fake_time.now += 0.001
        if turn % 20 == 0:  # 5% of requests answered 429, with a Retry-After of 50 ms
            pace.slow_down(0.05)
    assert pace.requests_per_second is not None
    assert pace.requests_per_second > 10


def test_rejects_a_nonsense_rate():
    with pytest.raises(ValueError, match="must be positive"):
        Pace(0)


async def test_concurrent_requests_share_the_rate_and_the_pause():
    """Real time, real event loop: ten requests at 50/s take about 0.18 s; a 429 halfway pauses all."""
    pace = Pace(50)
    started: list[float] = []
    origin = time.monotonic()

    async def request(index: int) -> None:
        await pace.wait_turn()
        started.append(time.monotonic() - origin)
        if index == 4:
            pace.slow_down(0.2)

    await asyncio.gather(*(request(index) for index in range(10)))
    started.sort()
    assert started[4] < 0.15
    # Everyone after the 429 waited out the 0.2 s pause, then went at 25/s.
    assert started[5] >= started[4] + 0.19
    assert started[9] >= started[5] + 4 * 0.04 - 0.01

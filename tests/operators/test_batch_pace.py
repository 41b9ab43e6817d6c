"""BatchPace: a 429 burst halves the rate once, and the rate recovers as requests go through."""

from __future__ import annotations

from airflow_provider_kizen.operators.batch import BatchPace


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_429s_from_requests_in_flight_during_a_pause_halve_the_rate_once() -> None:
    time = FakeTime()
    pace = BatchPace(8.0, clock=time.clock, sleep=time.sleep)
    pace.slow_down(1.0)
    pace.slow_down(1.0)
    pace.slow_down(2.0)
    assert pace.requests_per_second == 4.0
    await pace.wait_turn()
    assert time.now >= 2.0  # the longest Retry-After is honoured


async def test_the_rate_recovers_every_few_turns_up_to_the_cap() -> None:
    time = FakeTime()
    pace = BatchPace(8.0, clock=time.clock, sleep=time.sleep)
    pace.slow_down(0.1)
    assert pace.requests_per_second == 4.0
    for _ in range(BatchPace.RECOVERY_TURNS):
        await pace.wait_turn()
    assert pace.requests_per_second == 6.0
    for _ in range(3 * BatchPace.RECOVERY_TURNS):
        await pace.wait_turn()
    assert pace.requests_per_second == 8.0


async def test_a_steady_trickle_of_429s_does_not_drive_the_rate_to_its_floor() -> None:
    time = FakeTime()
    pace = BatchPace(None, clock=time.clock, sleep=time.sleep)
    for turn in range(1, 2001):
        await pace.wait_turn()
        time.now += 0.001
        if turn % 20 == 0:  # 5% of requests answered 429, Retry-After 50 ms
            pace.slow_down(0.05)
    assert pace.requests_per_second is not None
    assert pace.requests_per_second > 10

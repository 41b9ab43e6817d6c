"""Pace: one shared rhythm for every request of a batch.

A batch sends many requests concurrently. When Kizen answers one of them with 429, the others are
about to hit the same limit, so the whole batch pauses until the Retry-After has passed and then
continues at half its previous rate. The rate recovers step by step while no 429 arrives, so the batch
settles at the highest rate Kizen accepts rather than sinking to the floor under a trickle of 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

DEFAULT_PAUSE_SECONDS = 1.0  # when a 429 carries no Retry-After
MIN_REQUESTS_PER_SECOND = 0.5
RECOVERY_INTERVAL_SECONDS = 5.0  # quiet time (no 429) before each recovery step ...
RECOVERY_TURNS = 8  # ... or this many requests started without one, whichever comes first
RECOVERY_FACTOR = 1.5


class Pace:
    """A rate cap and a 429 pause shared by all requests of one batch (in one event loop).

    :param max_requests_per_second: the cap on attempts started per second; None for no cap until
        Kizen answers 429.
    """

    def __init__(
        self,
        max_requests_per_second: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise ValueError(f"max_requests_per_second must be positive, not {max_requests_per_second}")
        self._ceiling = max_requests_per_second
        self._rate = max_requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_change = clock()
        self._turns_since_change = 0
        self._recent_turns: deque[float] = deque()  # start times of the last second, to measure the rate

    @property
    def requests_per_second(self) -> float | None:
        """The current cap (None: uncapped)."""
        return self._rate

    async def wait_turn(self) -> None:
        """Wait until this request may start: after any 429 pause, and a slot of the current rate."""
        while True:
            now = self._clock()
            slot = max(now, self._paused_until, self._next_slot)
            # Reserve the slot before sleeping, so concurrent waiters queue up instead of all waking at once.
            self._next_slot = slot + (1 / self._rate if self._rate else 0.0)
            if slot > now:
                await self._sleep(slot - now)
            if self._paused_until <= slot:  # no 429 arrived while this request waited
                self._record(slot)
                self._recover(slot)
                return

    def slow_down(self, retry_after: float | None) -> None:
        """After a 429: pause every request until `retry_after` seconds from now, then halve the rate.

        A 429 that arrives during a pause answers a request sent before the pause began, so it extends
        the pause but does not halve the rate again.
        """
        now = self._clock()
        pause = retry_after if retry_after is not None else DEFAULT_PAUSE_SECONDS
        already_paused = now < self._paused_until
        self._paused_until = max(self._paused_until, now + pause)
        self._next_slot = max(self._next_slot, self._paused_until)
        if already_paused:
            return
        current = self._rate or max(len(self._recent_turns), 2 * MIN_REQUESTS_PER_SECOND)
        self._rate = max(MIN_REQUESTS_PER_SECOND, current / 2)
        self._last_change = now
        self._turns_since_change = 0

    def _recover(self, now: float) -> None:
        if self._rate is None or self._rate == self._ceiling:
            return
        quiet_for = now - max(self._last_change, self._paused_until)
        if quiet_for < RECOVERY_INTERVAL_SECONDS and self._turns_since_change < RECOVERY_TURNS:
            return
        raised = self._rate * RECOVERY_FACTOR
        if self._ceiling is not None:
            raised = min(raised, self._ceiling)
        self._rate = raised
        self._last_change = now
        self._turns_since_change = 0

    def _record(self, started: float) -> None:
        self._turns_since_change += 1
        self._recent_turns.append(started)
        while self._recent_turns and self._recent_turns[0] <= started - 1.0:
            self._recent_turns.popleft()

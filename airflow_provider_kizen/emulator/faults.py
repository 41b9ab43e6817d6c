"""Fault injection: latency, throttling, server errors, dropped connections and a concurrency cap.

Each rule owns a `random.Random(seed)` and draws from it once per request, in arrival order, so the
same sequence of requests meets the same sequence of faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultSettings(BaseModel):
    """One rule, as `POST /_emulator/faults` accepts it. `path=None` covers every Kizen path."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    latency_ms: float = Field(0, ge=0)
    jitter_ms: float = Field(0, ge=0)
    rate_429: float = Field(0, ge=0, le=1)
    retry_after_seconds: float = Field(1, ge=0)
    rate_500: float = Field(0, ge=0, le=1)
    rate_502: float = Field(0, ge=0, le=1)
    rate_503: float = Field(0, ge=0, le=1)
    rate_commit_then_drop: float = Field(0, ge=0, le=1)
    max_in_flight: int | None = Field(None, ge=1)
    seed: int = 0
    # Whether the request was processed (stored) before the error was answered. A 500 is Django
    # failing inside the request's transaction, which rolls back, unless it failed after the commit
    # (None: as the emulator's profile says); a 502 is the gateway losing an upstream answer, so the
    # work usually happened. A 503 is never processed.
    commit_on_500: bool | None = None
    commit_on_502: bool = True

    @model_validator(mode="after")
    def _rates_fit(self) -> FaultSettings:
        total = self.rate_429 + self.rate_500 + self.rate_502 + self.rate_503 + self.rate_commit_then_drop
        if total > 1:
            raise ValueError(f"the fault rates add up to {total:g}, more than 1")
        return self


class Outcome(Enum):
    PASS = "pass"
    THROTTLED = "429"
    OVER_CAPACITY = "429 max_in_flight"
    ERROR_500 = "500"
    ERROR_502 = "502"
    ERROR_503 = "503"
    COMMIT_THEN_DROP = "commit_then_drop"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one request."""

    outcome: Outcome
    delay_seconds: float = 0
    process_first: bool = False  # run the request (and store its effects) before the fault


class FaultRule:
    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.in_flight = 0
        self._random = random.Random(settings.seed)
        s = settings
        # Cumulative thresholds over one uniform draw: [429 | 503 | 500 | 502 | drop | pass].
        self._bands: list[tuple[float, Outcome, bool | None]] = []
        edge = 0.0
        for rate, outcome, process_first in (
            (s.rate_429, Outcome.THROTTLED, False),
            (s.rate_503, Outcome.ERROR_503, False),
            (s.rate_500, Outcome.ERROR_500, s.commit_on_500),
            (s.rate_502, Outcome.ERROR_502, s.commit_on_502),
            (s.rate_commit_then_drop, Outcome.COMMIT_THEN_DROP, True),
        ):
            if rate > 0:
                edge += rate
                self._bands.append((edge, outcome, process_first))

    def at_capacity(self) -> bool:
        cap = self.settings.max_in_flight
        return cap is not None and self.in_flight >= cap

    def decide(self, *, commit_on_500: bool) -> Decision:
        """The fault for the next request; `commit_on_500` applies when the rule leaves it open."""
        s = self.settings
        delay_ms = s.latency_ms + (self._random.uniform(0, s.jitter_ms) if s.jitter_ms else 0)
        draw = self._random.random()
        for edge, outcome, process_first in self._bands:
            if draw < edge:
                commits = commit_on_500 if process_first is None else process_first
                return Decision(outcome, delay_ms / 1000, commits)
        return Decision(Outcome.PASS, delay_ms / 1000)


class FaultInjector:
    """The active rules; the longest matching path prefix wins."""

    def __init__(self) -> None:
        self._rules: dict[str | None, FaultRule] = {}

    def set(self, settings: FaultSettings) -> None:
        self._rules[settings.path] = FaultRule(settings)

    def clear(self) -> None:
        self._rules.clear()

    def settings(self) -> list[FaultSettings]:
        return [rule.settings for rule in self._rules.values()]

    def rule_for(self, path: str) -> FaultRule | None:
        if not self._rules:
            return None
        best: FaultRule | None = self._rules.get(None)
        best_length = -1
        for prefix, rule in self._rules.items():
            if prefix is not None and path.startswith(prefix) and len(prefix) > best_length:
                best, best_length = rule, len(prefix)
        return best

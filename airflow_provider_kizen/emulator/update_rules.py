"""The switchable guesses about updates: what a PUT replaces, and what a completed activity refuses.

Kizen's public material says a PUT on the detail route is "a full replace" without saying what happens
to the fields left out, and says nothing about writing to a completed activity. The emulator makes both
choices selectable (command line, `running_emulator`, control plane), so a client can be tested against
each of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

COMPLETED_REFUSAL = "A completed scheduled activity cannot be changed."
_NOTE = "note"


class UpdateRules(BaseModel):
    """`put`: "replace" resets the fields a PUT leaves out to their create defaults; "merge" keeps them.

    `completed_writes`: what a PUT or PATCH on a completed activity may change: "accept" (anything),
    "note_only" (the note; any other field is a 400), or "refuse" (nothing; every write is a 400).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    put: Literal["replace", "merge"] = "replace"
    completed_writes: Literal["accept", "note_only", "refuse"] = "accept"


class UpdateRulesSetting:
    """The rules in force; a reset of the emulator goes back to the ones it was started with."""

    def __init__(self, startup: UpdateRules | None = None) -> None:
        self.startup = startup or UpdateRules()
        self.current = self.startup

    def reset(self) -> None:
        self.current = self.startup


def completed_refusal(
    rules: UpdateRules, activity: Mapping[str, Any], body: object, writable: Collection[str]
) -> dict[str, Any] | None:
    """The DRF error body refusing `body` as a write to `activity`, or None when it may go through.

    `writable` are the fields an update may set; others in the body are ignored, as DRF ignores them.
    """
    if activity["completed_at"] is None or rules.completed_writes == "accept":
        return None
    if rules.completed_writes == "refuse":
        return {"non_field_errors": [COMPLETED_REFUSAL]}
    given = body if isinstance(body, dict) else {}
    refused = sorted(name for name in given if name in writable and name != _NOTE)
    return {name: [COMPLETED_REFUSAL] for name in refused} or None

"""The control plane under `/_emulator/`: reset, inspect, complete, inject faults, choose update rules.

Not part of Kizen.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_kizen.emulator.faults import FaultInjector, FaultSettings
from airflow_provider_kizen.emulator.gateway import CONTROL_PREFIX, RequestLog
from airflow_provider_kizen.emulator.kizen_api import json_response
from airflow_provider_kizen.emulator.profiles import PROFILES, ActiveProfile, Profile
from airflow_provider_kizen.emulator.store import ActivityStore
from airflow_provider_kizen.emulator.update_rules import UpdateRules, UpdateRulesSetting


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_seconds: float = Field(0, ge=0)


class AutoCompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_seconds: float | None = Field(..., ge=0)


def build_control_router(
    store: ActivityStore,
    faults: FaultInjector,
    request_log: RequestLog,
    profile: ActiveProfile,
    update_rules: UpdateRulesSetting,
) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX.rstrip("/"))

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/reset", status_code=204)
    async def reset() -> None:
        """Wipe activities, logged activities, the request log, faults and auto-complete.

        The profile and the update rules go back to the ones the emulator was started with.
        """
        store.reset()
        faults.clear()
        request_log.clear()
        profile.reset()
        update_rules.reset()

    @router.get("/profile")
    async def get_profile() -> Profile:
        return profile.current

    @router.put("/profile", status_code=204)
    async def set_profile(body: Profile) -> None:
        """Answer from now on as `body` says; fields left out take their defaults."""
        profile.current = body

    @router.put("/profile/{name}", status_code=204)
    async def set_named_profile(name: str) -> None:
        """Switch to one of the named profiles (`GET /_emulator/profiles` lists them)."""
        if name not in PROFILES:
            raise HTTPException(404, f"no profile {name!r}; known: {', '.join(PROFILES)}")
        profile.current = PROFILES[name]

    @router.get("/profiles")
    async def named_profiles() -> dict[str, Profile]:
        return PROFILES

    # Tests poll these while a DAG runs, so they answer raw JSON rather than through FastAPI's
    # response validation, which costs more than the requests they inspect.
    @router.get("/activities")
    async def activities() -> Response:
        return json_response(store.all())

    @router.get("/requests")
    async def requests(path_prefix: str | None = None) -> Response:
        return json_response(request_log.read(path_prefix))

    @router.post("/activities/{activity_id}/complete", status_code=204)
    async def complete(activity_id: str, body: CompleteRequest) -> None:
        if not store.complete(activity_id, after_seconds=body.after_seconds):
            raise HTTPException(404, f"no scheduled activity {activity_id}")

    @router.put("/auto-complete", status_code=204)
    async def auto_complete(body: AutoCompleteRequest) -> None:
        store.set_auto_complete(body.after_seconds)

    @router.get("/faults")
    async def list_faults() -> list[FaultSettings]:
        return faults.settings()

    @router.post("/faults", status_code=204)
    async def set_faults(body: FaultSettings) -> None:
        """Add the rule for `body.path`, replacing an earlier rule for the same path."""
        faults.set(body)

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> None:
        faults.clear()

    @router.get("/update-rules")
    async def get_update_rules() -> UpdateRules:
        return update_rules.current

    @router.put("/update-rules", status_code=204)
    async def set_update_rules(body: UpdateRules) -> None:
        """Choose what a PUT replaces and what a completed activity refuses; a field left out: its default."""
        update_rules.current = body

    return router

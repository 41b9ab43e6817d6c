"""The emulator assembled: its state, the FastAPI routes and the gateway in front of them."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_kizen.emulator.catalog import Catalog
from airflow_provider_kizen.emulator.connections import ConnectionRegistry
from airflow_provider_kizen.emulator.control_api import build_control_router
from airflow_provider_kizen.emulator.faults import FaultInjector
from airflow_provider_kizen.emulator.gateway import CONTROL_PREFIX, HTML_404, KizenGateway, RequestLog
from airflow_provider_kizen.emulator.kizen_api import BadRequest, build_kizen_routes, json_response
from airflow_provider_kizen.emulator.profiles import ActiveProfile, Profile
from airflow_provider_kizen.emulator.store import ActivityStore
from airflow_provider_kizen.emulator.update_rules import UpdateRules, UpdateRulesSetting
from airflow_provider_kizen.emulator.validation import ValidationFailed


class Emulator:
    """One emulated Kizen: `asgi` is the application to serve."""

    def __init__(
        self,
        *,
        state_file: str | Path | None = None,
        seed: int | None = None,
        profile: Profile | None = None,
        update_rules: UpdateRules | None = None,
    ) -> None:
        self.profile = ActiveProfile(profile or Profile())
        self.catalog = Catalog()
        self.store = ActivityStore(state_file=state_file, seed=seed)
        self.update_rules = UpdateRulesSetting(update_rules)
        self.faults = FaultInjector()
        self.request_log = RequestLog()
        self.connections = ConnectionRegistry()
        api = FastAPI(
            title="Kizen emulator",
            docs_url=f"{CONTROL_PREFIX}docs",
            redoc_url=None,
            openapi_url=f"{CONTROL_PREFIX}openapi.json",
        )
        api.router.routes.extend(
            build_kizen_routes(self.store, self.catalog, self.profile, self.update_rules)
        )
        api.include_router(
            build_control_router(self.store, self.faults, self.request_log, self.profile, self.update_rules)
        )
        api.add_exception_handler(ValidationFailed, _validation_failed)  # type: ignore[arg-type]
        api.add_exception_handler(BadRequest, _bad_request)  # type: ignore[arg-type]
        api.add_exception_handler(StarletteHTTPException, _http_exception)  # type: ignore[arg-type]
        self.asgi = KizenGateway(
            api,
            faults=self.faults,
            profile=self.profile,
            request_log=self.request_log,
            new_request_id=self.store.new_id,
            drop_connection=self.connections.drop,
        )

    def close(self) -> None:
        self.store.close()


async def _validation_failed(request: Request, exc: ValidationFailed) -> Response:
    return json_response(exc.errors, 400)


async def _bad_request(request: Request, exc: BadRequest) -> Response:
    return json_response(exc.payload, exc.status)


async def _http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    """Unknown URLs get Django's HTML 404; a wrong method gets DRF's 405."""
    if request.url.path.startswith(CONTROL_PREFIX):
        return json_response({"detail": exc.detail}, exc.status_code)
    if exc.status_code == 404:
        return Response(HTML_404, 404, media_type="text/html; charset=utf-8")
    if exc.status_code == 405:
        return json_response(
            {"detail": f'Method "{request.method}" not allowed.', "code": "method_not_allowed"}, 405
        )
    return json_response({"detail": exc.detail}, exc.status_code)

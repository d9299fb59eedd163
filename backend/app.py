"""``create_app(settings)``: the Starlette application with its services, routes and errors."""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.errors import ApiError
from backend.llm import ProviderRegistry
from backend.middleware import BodyLimit, TokenAuth
from backend.openapi import build_openapi
from backend.routes import ENDPOINTS, starlette_routes
from backend.runs.manager import RunManager
from backend.services import Services
from backend.settings import Settings
from backend.store import Store
from backend.tools import definitions as tool_definitions

log = logging.getLogger("chinwag.server")

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.status_code != 404 else f"No route for {request.url.path}."
    code = _HTTP_CODES.get(exc.status_code, "INVALID_ARGUMENT")
    return JSONResponse({"detail": detail, "code": code}, status_code=exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = uuid.uuid4().hex
    log.error("request %s %s %s failed", request_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {
            "detail": "The server failed to handle this request; it has been logged.",
            "code": "INTERNAL",
            "request_id": request_id,
        },
        status_code=500,
    )


def create_app(settings: Settings) -> Starlette:
    store = Store(settings.db_path)
    registry = ProviderRegistry.from_config(settings.config, settings.env)
    runs = RunManager(store, registry, settings)
    openapi = build_openapi(ENDPOINTS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await store.tools.ensure(tool_definitions())
        await runs.start_up()
        app.state.services = Services(settings=settings, store=store, registry=registry, runs=runs)
        try:
            yield
        finally:
            await runs.shut_down()
            await registry.aclose()
            await store.close()

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(openapi)

    app = Starlette(
        routes=[*starlette_routes(ENDPOINTS), Route("/openapi.json", openapi_json)],
        middleware=[
            Middleware(TokenAuth, token=settings.token),
            Middleware(BodyLimit, limit=settings.body_limit),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    return app

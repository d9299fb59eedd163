"""``create_app(settings)``: the Starlette application with its services, routes and errors."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.errors import ApiError
from backend.llm import ProviderRegistry
from backend.middleware import (
    BodyLimit,
    CallerGuard,
    InternalErrors,
    JsonBodiesOnly,
    TokenAuth,
)
from backend.openapi import build_openapi
from backend.routes import ENDPOINTS, starlette_routes
from backend.routing import IndexedRouter
from backend.runs.manager import RunManager
from backend.services import Services
from backend.settings import Settings
from backend.store import Store
from backend.store.db import storage_error
from backend.tools import definitions as tool_definitions

log = logging.getLogger("chinwag.server")

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"No route for {request.url.path}."
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
    else:
        detail = exc.detail
    code = _HTTP_CODES.get(exc.status_code, "INVALID_ARGUMENT")
    return JSONResponse(
        {"detail": detail, "code": code}, status_code=exc.status_code, headers=exc.headers
    )


def _cors(settings: Settings) -> list[Middleware]:
    """Origins allowed with ``--allow-origin`` also get the CORS answers their browser needs."""
    if not settings.allowed_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )
    ]


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
            Middleware(
                CallerGuard,
                restrict_host=settings.token is None and not settings.insecure,
                allowed_origins=frozenset(settings.allowed_origins),
            ),
            *_cors(settings),
            Middleware(TokenAuth, token=settings.token),
            Middleware(JsonBodiesOnly),
            Middleware(BodyLimit, limit=settings.body_limit),
            Middleware(InternalErrors, translate=lambda exc: storage_error(exc, settings.db_path)),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.router = IndexedRouter(app.router.routes, lifespan=lifespan, redirect_slashes=False)
    return app

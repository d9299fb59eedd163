"""Liveness and version: the one route that never needs a token."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import __version__
from backend.api.common import respond


async def health(request: Request) -> JSONResponse:
    return respond({"status": "ok", "version": __version__})

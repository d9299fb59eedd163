"""Liveness and version: the one route that never needs a token."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import __version__
from backend.api.common import respond

LETTA_API_VERSION = "0.16.8"


async def health(request: Request) -> JSONResponse:
    """``version`` is the Letta API version clients check (Letta Code wants 0.16.6 or later)."""
    return respond(
        {
            "status": "ok",
            "version": LETTA_API_VERSION,
            "server": "chinwag",
            "chinwag_version": __version__,
        }
    )

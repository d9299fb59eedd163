"""The reference for server CPU per request: a bare Starlette app answering fixed JSON.

``python -m bench.bare_server --port P --payloads FILE`` serves each ``{path: body}`` of the
JSON file with ``JSONResponse(body)``: routing, JSON encoding and HTTP, and nothing else. It is
served with the options of ``chinwag serve`` itself, so the difference in CPU per request
between the two is what chinwag adds (queries, conversion, middleware).
"""

import argparse
import json
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.__main__ import parse_args, uvicorn_options


def app_for(payloads: dict[str, Any]) -> Starlette:
    def endpoint(body: Any):
        async def answer(request: Request) -> JSONResponse:
            return JSONResponse(body)

        return answer

    routes = [Route(path, endpoint(body)) for path, body in payloads.items()]
    routes.append(Route("/v1/health/", endpoint({"status": "ok"})))
    return Starlette(routes=routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=Path, required=True)
    own, rest = parser.parse_known_args()
    payloads = json.loads(own.payloads.read_text(encoding="utf-8"))
    uvicorn.run(app_for(payloads), **uvicorn_options(parse_args(rest)))


if __name__ == "__main__":
    main()

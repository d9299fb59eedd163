"""Starlette's router, looking routes up by a path's first two segments.

Starlette tries each route's pattern in turn; with about fifty routes, a request for a message
page tried some twenty-five before its own, a few percent of the request's CPU. Here the routes
are grouped by their first two segments (``/v1/agents``), which are literal in every route this
server has, and a request tries only its group, in the original order, so the first match is the
same route Starlette would have chosen. A route with a parameter in its first two segments is
tried for every path. A request no route of its group answers goes through Starlette's own
lookup (its 404, 405 and slash redirects stay exactly as they were).
"""

from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router, get_route_path
from starlette.types import Receive, Scope, Send

Key = tuple[str, ...]


def _key(path: str) -> Key:
    return tuple(path.split("/", 3)[1:3])


class IndexedRouter(Router):
    """A :class:`starlette.routing.Router` that tries only the routes a path can match."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._groups: dict[Key, list[BaseRoute]] | None = None
        self._everywhere: list[BaseRoute] = []

    def _index(self) -> dict[Key, list[BaseRoute]]:
        """Built on the first request, once every route has been added."""
        keys: list[Key | None] = []
        for route in self.routes:
            path = route.path if isinstance(route, Route) else None
            literal = path is not None and "{" not in "/".join(_key(path))
            keys.append(_key(path) if literal and path is not None else None)
        groups = {
            key: [r for r, k in zip(self.routes, keys, strict=True) if k in (key, None)]
            for key in set(keys)
            if key is not None
        }
        self._everywhere = [r for r, k in zip(self.routes, keys, strict=True) if k is None]
        self._groups = groups
        return groups

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that may match ``path``, in their order: no other one can."""
        groups = self._groups if self._groups is not None else self._index()
        return groups.get(_key(path), self._everywhere)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.setdefault("router", self)
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        # A 405, a 404 or a redirect: Starlette decides, looking at every route.
        await super().app(scope, receive, send)

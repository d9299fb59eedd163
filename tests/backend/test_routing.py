"""The indexed router chooses the route Starlette's own lookup chooses, for every route."""

import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import Match, Route

from backend.app import create_app
from backend.routing import IndexedRouter
from tests.servers import make_settings


def sample_paths(template: str) -> list[str]:
    """Concrete paths for a route template: plain values, and a value holding a slash where
    the parameter takes a path."""
    plain = re.sub(r"\{[^}:]+(:[a-z]+)?\}", "x1", template)
    slashed = re.sub(r"\{[^}:]+:path\}", "a/b", re.sub(r"\{[^}:]+\}", "x1", template))
    return sorted({plain, slashed})


def first_match(routes: list, path: str, method: str) -> tuple[Route | None, Route | None]:
    """The first route matching fully, and the first matching but for the method."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    full = partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL and full is None:
            full = route
        elif match is Match.PARTIAL and partial is None:
            partial = route
    return full, partial


def test_every_path_and_method_finds_starlettes_route(tmp_path: Path) -> None:
    router = create_app(make_settings(tmp_path / "chinwag.db")).router
    assert isinstance(router, IndexedRouter)
    paths = [p for r in router.routes if isinstance(r, Route) for p in sample_paths(r.path)]
    paths += ["/v1/nothing/here", "/", "/v1", "/v1/agents/x1/nothing", "/openapi.json/x"]
    assert len(paths) > 50
    for path in paths:
        candidates = router.candidates(path)
        for method in ("GET", "POST", "PATCH", "DELETE", "HEAD", "PUT"):
            full, _ = first_match(router.routes, path, method)
            assert first_match(candidates, path, method)[0] is full, (method, path)
        others = [r for r in router.routes if r not in candidates]
        assert all(first_match(others, path, m) == (None, None) for m in ("GET", "POST"))


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing/here", 404, "NOT_FOUND"),
        ("GET", "/v1/agents/x1/nothing", 404, "NOT_FOUND"),
        ("PUT", "/v1/agents/", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/v1/health/", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_unrouted_requests_keep_their_answers(
    http: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == status
    assert response.json()["code"] == code

"""Pagination properties: any page size, either order, forwards or backwards, every item once."""

import random

import httpx
import pytest

from tests.backend.test_api_agents import make_agent
from tests.backend.test_api_conversations import make_conversation
from tests.seed import seed_history
from tests.servers import ServerThread


def walk_forward(http: httpx.Client, path: str, order: str, limit: int) -> list[str]:
    """Follow ``after`` cursors until an empty page, as the SDK's iterator does."""
    seen: list[str] = []
    params: dict = {"order": order, "limit": limit}
    for _ in range(10_000):
        page = http.get(path, params=params).json()
        if not page:
            return seen
        seen += [m["id"] for m in page]
        params["after"] = seen[-1]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("seed", range(6))
def test_random_histories_walk_exactly_once(
    server: ServerThread, http: httpx.Client, seed: int
) -> None:
    rng = random.Random(seed)
    agent = make_agent(http)
    conv = make_conversation(http, agent["id"])
    n = rng.choice([0, 1, 2, rng.randint(3, 40), rng.randint(41, 400)])
    ids = seed_history(server.settings.db_path, conv["id"], n)
    path = f"/v1/conversations/{conv['id']}/messages"
    for _ in range(4):
        limit = rng.randint(1, max(1, n + 2))
        order = rng.choice(["asc", "desc"])
        expected = ids if order == "asc" else ids[::-1]
        assert walk_forward(http, path, order, limit) == expected, (n, limit, order)
        # Backwards: start before the newest end of this order's list.
        if n:
            tail = http.get(
                path, params={"order": order, "limit": 1, "before": expected[-1]}
            ).json()
            assert [m["id"] for m in tail] == expected[-2:-1]
        backwards = walk_back_from_end(http, path, order, limit, expected)
        assert backwards == expected, (n, limit, order)


def walk_back_from_end(
    http: httpx.Client, path: str, order: str, limit: int, expected: list[str]
) -> list[str]:
    """Walk with ``before`` from the last item of the list back to the first, then add the last."""
    if not expected:
        return []
    seen: list[str] = [expected[-1]]
    cursor = expected[-1]
    while True:
        page = http.get(path, params={"order": order, "limit": limit, "before": cursor}).json()
        if not page:
            return seen
        ids = [m["id"] for m in page]
        seen = ids + seen
        cursor = ids[0]


def test_between_two_cursors(server: ServerThread, http: httpx.Client) -> None:
    agent = make_agent(http)
    conv = make_conversation(http, agent["id"])
    ids = seed_history(server.settings.db_path, conv["id"], 20)
    page = http.get(
        f"/v1/conversations/{conv['id']}/messages",
        params={"order": "asc", "after": ids[3], "before": ids[9], "limit": 100},
    ).json()
    assert [m["id"] for m in page] == ids[4:9]

"""A memory block's ``limit`` holds on every edit a person makes, and has a sane maximum
(issue 8, point 7; API.md 2)."""

import httpx

from shared_schema.models import MAX_BLOCK_LIMIT


def make_agent(http: httpx.Client, **block: object) -> httpx.Response:
    return http.post("/v1/agents/", json={"memory_blocks": [{"label": "human", **block}]})


def test_a_block_over_its_limit_is_refused_at_creation(http: httpx.Client) -> None:
    over = make_agent(http, value="x" * 101, limit=100)
    assert over.status_code == 400  # the shape is right; the value does not fit
    assert "Exceeds 100 character limit (requested 101)" in over.json()["detail"]
    default = make_agent(http, value="x" * 5001)  # the default limit is 5000
    assert default.status_code == 400
    assert http.get("/v1/agents/").json() == []
    assert make_agent(http, value="x" * 100, limit=100).status_code == 200


def test_the_limit_itself_has_a_maximum(http: httpx.Client) -> None:
    too_big = make_agent(http, value="v", limit=MAX_BLOCK_LIMIT + 1)
    assert too_big.status_code == 422
    assert make_agent(http, value="v", limit=MAX_BLOCK_LIMIT).status_code == 200


def test_a_person_edit_over_the_limit_is_refused_and_changes_nothing(http: httpx.Client) -> None:
    agent = make_agent(http, value="short", limit=10).json()
    block = f"/v1/agents/{agent['id']}/core-memory/blocks/human"
    refused = http.patch(block, json={"value": "much too long"})
    assert refused.status_code == 400
    assert "Exceeds 10 character limit (requested 13)" in refused.json()["detail"]
    lowered = http.patch(block, json={"value": "short", "limit": 3})
    assert lowered.status_code == 400
    value = http.get(f"/v1/agents/{agent['id']}").json()["memory"]["blocks"][0]
    assert (value["value"], value["limit"]) == ("short", 10)
    raised = http.patch(block, json={"value": "much too long", "limit": 20})
    assert raised.status_code == 200
    assert raised.json()["value"] == "much too long"
    huge = http.patch(block, json={"value": "x" * 7_000_000, "limit": 7_000_000})
    assert huge.status_code == 422  # a limit over the maximum is outside the schema

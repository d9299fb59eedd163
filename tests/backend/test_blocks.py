"""Blocks on their own and shared, memory history and restore, recompile (API.md 7)."""

import json
from urllib.parse import quote

import httpx
import pytest
from letta_client import Letta

from tests.fakes.fake_openai import FakeOpenAI, Reply, call
from tests.servers import ServerThread
from tests.sse import send


def make_agent(http: httpx.Client, *blocks: dict, **extra: object) -> dict:
    made = http.post("/v1/agents/", json={"memory_blocks": list(blocks), **extra})
    assert made.status_code == 200, made.text
    return made.json()


def test_agent_blocks_by_label_including_slashes(http: httpx.Client) -> None:
    agent = make_agent(
        http,
        {"label": "human", "value": "Name: Ada"},
        {"label": "notes/work items", "value": "ship it", "limit": 50},
    )
    base = f"/v1/agents/{agent['id']}/core-memory/blocks"
    assert [b["label"] for b in http.get(base).json()] == ["human", "notes/work items"]
    path = f"{base}/{quote('notes/work items', safe='')}"
    assert http.get(path).json()["value"] == "ship it"
    changed = http.patch(path, json={"value": "shipped"})
    assert changed.status_code == 200 and changed.json()["value"] == "shipped"
    assert http.get(f"{base}/nope").status_code == 404


def test_a_shared_block_is_one_block_for_every_agent(http: httpx.Client) -> None:
    shared = http.post("/v1/blocks/", json={"label": "team", "value": "We use tabs."}).json()
    assert shared["id"].startswith("block-") and shared["read_only"] is False
    first = make_agent(http, {"label": "human", "value": "A"})
    second = make_agent(http, {"label": "human", "value": "B"})
    for agent in (first, second):
        attached = http.patch(f"/v1/agents/{agent['id']}/core-memory/blocks/attach/{shared['id']}")
        assert attached.status_code == 200
        assert [b["label"] for b in attached.json()["blocks"]] == ["human", "team"]
    http.patch(f"/v1/blocks/{shared['id']}", json={"value": "We use spaces."})
    for agent in (first, second):
        blocks = http.get(f"/v1/agents/{agent['id']}").json()["blocks"]
        assert blocks[1]["value"] == "We use spaces."
    assert [b["id"] for b in http.get("/v1/blocks/", params={"label": "team"}).json()] == [
        shared["id"]
    ]
    clash = http.post("/v1/blocks/", json={"label": "human", "value": "C"}).json()
    refused = http.patch(f"/v1/agents/{first['id']}/core-memory/blocks/attach/{clash['id']}")
    assert refused.status_code == 400 and "'human'" in refused.json()["detail"]
    detached = http.patch(f"/v1/agents/{first['id']}/core-memory/blocks/detach/{shared['id']}")
    assert [b["label"] for b in detached.json()["blocks"]] == ["human"]
    # Deleting an agent keeps blocks another agent still has.
    assert http.delete(f"/v1/agents/{second['id']}").status_code == 200
    assert http.get(f"/v1/blocks/{shared['id']}").status_code == 404
    assert http.delete(f"/v1/blocks/{clash['id']}").status_code == 200
    assert http.get(f"/v1/blocks/{clash['id']}").status_code == 404


def test_history_records_every_change_and_restore_puts_one_back(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "Likes tea."})]),
        "ok",
    )
    with llm_server.client() as http:
        agent = make_agent(http, {"label": "human", "value": "Name: Ada", "limit": 100})
        block_id = agent["blocks"][0]["id"]
        http.patch(
            f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Name: Ada L."}
        )
        conversation = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
        run_id = send(http, conversation["id"], "I like tea")[0].data["run_id"]
        history = http.get(f"/v1/blocks/{block_id}/history").json()
        assert [(h["version"], h["actor"], h["tool_name"]) for h in history] == [
            (3, "agent", "memory_insert"),
            (2, "person", None),
            (1, "person", None),
        ]
        assert history[0]["run_id"] == run_id and history[0]["agent_id"] == agent["id"]
        assert history[0]["before"] == "Name: Ada L."
        assert history[0]["after"] == "Name: Ada L.\nLikes tea."
        assert history[2]["before"] is None and history[2]["after"] == "Name: Ada"
        page = http.get(f"/v1/blocks/{block_id}/history", params={"limit": 1, "before": 3})
        assert [h["version"] for h in page.json()] == [2]

        restored = http.post(f"/v1/blocks/{block_id}/restore", json={"version": 1})
        assert restored.status_code == 200 and restored.json()["value"] == "Name: Ada"
        newest = http.get(f"/v1/blocks/{block_id}/history", params={"limit": 1}).json()[0]
        assert (newest["version"], newest["actor"], newest["after"]) == (4, "person", "Name: Ada")
        assert http.post(f"/v1/blocks/{block_id}/restore", json={"version": 9}).status_code == 400
        assert http.post(f"/v1/blocks/{block_id}/restore", json={}).status_code == 422
        missing = "/v1/blocks/block-00000000-0000-4000-8000-000000000000/history"
        assert http.get(missing).status_code == 404


def test_recompile_brings_current_memory_in_dry_run_stores_nothing(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    sdk = Letta(base_url=llm_server.url, api_key="unused", timeout=30)
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Name: Ada"}])
    conversation = sdk.conversations.create(agent_id=agent.id)
    fake_llm.script(
        Reply(tool_calls=[call("memory_insert", {"label": "human", "new_string": "Likes tea."})]),
        "ok",
    )
    list(sdk.conversations.messages.create(conversation.id, input="I like tea"))

    def system() -> str:
        items = sdk.conversations.messages.list(conversation.id, order="asc", limit=1).items
        return items[0].content

    assert "Likes tea" not in system()
    # As from Letta, the answer is a JSON string, which the SDK hands over undecoded.
    preview = json.loads(sdk.conversations.recompile(conversation.id, dry_run=True))
    assert "Name: Ada\nLikes tea." in preview
    assert "Likes tea" not in system()
    assert json.loads(sdk.conversations.recompile(conversation.id)) == preview
    assert system() == preview
    fake_llm.reply = "sure"
    list(sdk.conversations.messages.create(conversation.id, input="and?"))
    assert fake_llm.requests[-1]["messages"][0]["content"] == preview


def test_recompile_of_an_unstarted_conversation_and_the_default_one(http: httpx.Client) -> None:
    agent = make_agent(http, {"label": "human", "value": "Name: Ada"})
    conversation = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
    text = http.post(f"/v1/conversations/{conversation['id']}/recompile", params={"dry_run": True})
    assert text.status_code == 200 and "Name: Ada" in text.json()
    default = http.post(f"/v1/agents/{agent['id']}/recompile")
    assert default.status_code == 200 and default.json() == text.json()
    unknown = http.post("/v1/conversations/conv-00000000-0000-4000-8000-000000000000/recompile")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "body", [{"label": ""}, {"label": "x", "value": "y" * 10, "limit": 5}, {"value": 3}]
)
def test_bad_blocks_are_refused(http: httpx.Client, body: dict) -> None:
    before = http.get("/v1/blocks/").json()
    answer = http.post("/v1/blocks/", json=body)
    assert answer.status_code in (400, 422)
    assert set(answer.json()) >= {"detail", "code"}
    assert http.get("/v1/blocks/").json() == before

"""Tool routes and agent creation with tools (API.md 7), through the Letta SDK where it can."""

import sqlite3
from pathlib import Path

import httpx
import pytest
from letta_client import BadRequestError, Letta

from tests.conftest import ServerFactory
from tests.fakes.fake_openai import FakeOpenAI, Reply, call
from tests.servers import ServerThread
from tests.sse import send, text_of

BASE = {"memory_insert", "memory_replace", "conversation_search"}


@pytest.fixture
def sdk(server: ServerThread) -> Letta:
    return Letta(base_url=server.url, api_key="unused", timeout=30)


def test_tools_are_listed_found_by_name_and_retrieved(sdk: Letta, http: httpx.Client) -> None:
    tools = {t.name: t for t in sdk.tools.list()}
    assert {"memory_insert", "memory_replace", "memory_rethink", "conversation_search"} <= set(
        tools
    )
    insert = tools["memory_insert"]
    assert insert.id.startswith("tool-")
    assert insert.json_schema["parameters"]["required"] == ["label", "new_string"]
    assert [t.id for t in sdk.tools.list(name="memory_insert")] == [insert.id]
    assert sdk.tools.list(name="launch_rockets").items == []
    assert sdk.tools.retrieve(insert.id).name == "memory_insert"
    added = http.post("/v1/tools/add-base-tools")
    assert added.status_code == 200
    assert {t["id"] for t in added.json()} == {t.id for t in tools.values()}
    assert http.get("/v1/tools/tool-00000000-0000-4000-8000-000000000000").status_code == 404


def test_agent_create_takes_tools_by_name_and_id(sdk: Letta) -> None:
    assert {t.name for t in sdk.agents.create(memory_blocks=[]).tools} == BASE
    rethink = sdk.tools.list(name="memory_rethink").items[0]
    bare = sdk.agents.create(include_base_tools=False, tool_ids=[rethink.id])
    assert [t.name for t in bare.tools] == ["memory_rethink"]
    named = sdk.agents.create(tools=["memory_rethink"])
    assert {t.name for t in named.tools} == BASE | {"memory_rethink"}
    assert [t.name for t in sdk.agents.tools.list(named.id)] == [
        "memory_rethink",
        "memory_insert",
        "memory_replace",
        "conversation_search",
    ]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"tools": ["launch_rockets"]}, "launch_rockets"),
        ({"tool_ids": ["tool-00000000-0000-4000-8000-000000000000"]}, "tool-0000"),
        ({"enable_sleeptime": True}, "enable_sleeptime"),
        ({"agent_type": "memgpt_agent"}, "memgpt_agent"),
    ],
)
def test_unsupported_agent_options_are_400_naming_them(
    http: httpx.Client, body: dict, named: str
) -> None:
    before = len(http.get("/v1/agents/").json())
    answer = http.post("/v1/agents/", json={"memory_blocks": [], **body})
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_ARGUMENT"
    assert named in answer.json()["detail"]
    assert len(http.get("/v1/agents/").json()) == before


def test_attach_detach_and_approval(sdk: Letta, http: httpx.Client) -> None:
    agent = sdk.agents.create(include_base_tools=False)
    rethink = sdk.tools.list(name="memory_rethink").items[0]
    attached = sdk.agents.tools.attach(rethink.id, agent_id=agent.id)
    assert attached is not None and [t.name for t in attached.tools] == ["memory_rethink"]
    again = http.patch(f"/v1/agents/{agent.id}/tools/attach/{rethink.id}")
    assert [t["name"] for t in again.json()["tools"]] == ["memory_rethink"]
    approval = http.patch(
        f"/v1/agents/{agent.id}/tools/approval/memory_rethink",
        params={"requires_approval": "true"},
    )
    assert approval.json()["tools"][0]["requires_approval"] is True
    unknown = http.patch(
        f"/v1/agents/{agent.id}/tools/approval/launch_rockets", json={"requires_approval": True}
    )
    assert unknown.status_code == 404
    detached = sdk.agents.tools.detach(rethink.id, agent_id=agent.id)
    assert detached is not None and detached.tools == []
    with pytest.raises(BadRequestError):
        sdk.agents.create(tools=["nope"])


def test_letta_web_tools_exist_and_say_they_are_not_served(
    llm_server: ServerThread, fake_llm: FakeOpenAI
) -> None:
    """Letta Code makes its agents with web_search and fetch_webpage."""
    fake_llm.script(
        Reply(tool_calls=[call("web_search", {"query": "weather"})]), "I cannot search."
    )
    with llm_server.client() as http:
        made = http.post("/v1/agents/", json={"tools": ["web_search", "fetch_webpage"]})
        assert made.status_code == 200
        assert {t["name"] for t in made.json()["tools"]} >= {"web_search", "fetch_webpage"}
        conversation = http.post(
            "/v1/conversations/", params={"agent_id": made.json()["id"]}
        ).json()
        got = send(http, conversation["id"], "what's the weather?")
        returned = next(f.data for f in got if f.type == "tool_return_message")
        assert returned["status"] == "error" and "not available" in returned["tool_return"]
        assert text_of(got) == "I cannot search."


def test_create_with_approval_rules_and_existing_blocks(sdk: Letta, http: httpx.Client) -> None:
    shared = sdk.blocks.create(label="team", value="We use tabs.")
    agent = sdk.agents.create(
        memory_blocks=[{"label": "human", "value": "Ada"}],
        block_ids=[shared.id],
        tool_rules=[{"tool_name": "memory_insert", "type": "requires_approval"}],
    )
    assert [b.label for b in agent.memory.blocks] == ["human", "team"]
    tools = {t["name"]: t for t in http.get(f"/v1/agents/{agent.id}/tools").json()}
    assert tools["memory_insert"]["requires_approval"] is True
    assert tools["memory_replace"]["requires_approval"] is False
    for body, named in (
        ({"block_ids": ["block-00000000-0000-4000-8000-000000000000"]}, "block_ids"),
        (
            {"tool_rules": [{"tool_name": "memory_rethink", "type": "requires_approval"}]},
            "memory_rethink",
        ),
    ):
        refused = http.post("/v1/agents/", json=body)
        assert refused.status_code == 400 and named in refused.json()["detail"]


def test_update_replaces_the_tool_and_block_sets(sdk: Letta, http: httpx.Client) -> None:
    """Letta Code adds web_search and fetch_webpage to an agent this way."""
    agent = sdk.agents.create(memory_blocks=[{"label": "human", "value": "Ada"}])
    current = [t.id for t in agent.tools]
    web = [sdk.tools.list(name=n).items[0].id for n in ("web_search", "fetch_webpage")]
    updated = sdk.agents.update(agent.id, tool_ids=[*current[:1], *web])
    assert [t.name for t in updated.tools] == ["memory_insert", "web_search", "fetch_webpage"]
    team = sdk.blocks.create(label="team", value="tabs")
    human = agent.memory.blocks[0].id
    updated = sdk.agents.update(agent.id, block_ids=[human, team.id])
    assert [b.label for b in updated.memory.blocks] == ["human", "team"]
    refused = http.patch(
        f"/v1/agents/{agent.id}",
        json={"block_ids": ["block-00000000-0000-4000-8000-000000000000"], "name": "x"},
    )
    assert refused.status_code == 400
    unchanged = http.get(f"/v1/agents/{agent.id}").json()
    assert [b["label"] for b in unchanged["blocks"]] == ["human", "team"]
    assert unchanged["name"] == agent.name


def test_a_tool_another_process_added_is_found_by_name_and_id(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """The server keeps the tools' names and ids once read; one it has not seen (added by
    another chinwag on the same file) sends it back to the database, not to a 400."""
    server = server_factory(db_path=tmp_path / "shared.db")
    with server.client() as http:
        assert http.post("/v1/agents/", json={"memory_blocks": []}).status_code == 200
        with sqlite3.connect(tmp_path / "shared.db") as other:
            other.execute(
                "INSERT INTO tools (id, name, description, json_schema, tool_type, created_at)"
                " VALUES ('tool-elsewhere', 'elsewhere', 'Added elsewhere.', '{}', 'custom',"
                " '2026-01-01T00:00:00+00:00')"
            )
        by_name = http.post("/v1/agents/", json={"tools": ["elsewhere"]})
        by_id = http.post("/v1/agents/", json={"tool_ids": ["tool-elsewhere"]})
        unknown = http.post("/v1/agents/", json={"tools": ["nowhere"]})
    assert by_name.status_code == 200 and by_id.status_code == 200
    assert "elsewhere" in {t["name"] for t in by_name.json()["tools"]}
    assert [t["id"] for t in by_id.json()["tools"]].count("tool-elsewhere") == 1
    assert unknown.status_code == 400 and "nowhere" in unknown.json()["detail"]

"""The agents' JSON, written by SQLite, equals the shape built in Python from the store's rows.

The agent routes answer with JSON that SQLite writes (``backend.store.agents``), with only the
``llm_config`` and ``message_ids`` spliced in. ``python_shape`` below is the same answer built
field by field from ``AgentStore.get`` (the agent the runs use), as the server built it before;
these tests make agents that differ in every field (blocks shared, re-ordered, read-only, with
text that needs escaping; tools with and without approval; tags, description, compaction
settings; a default conversation with messages; a model whose provider is gone) and require
byte-equal answers from the list, from GET and from PATCH.
"""

import json
from typing import Any

import httpx
from letta_client import Letta
from starlette.applications import Starlette

from backend.api.agents import resolve_handle
from backend.errors import InvalidArgument
from tests.servers import ServerThread

TEXT = 'quotes " and \\ backslash, a tab\t, ünïcödé, an emoji 🌱, a \x01 control\nline 2'


def python_shape(app: Starlette, agent: dict[str, Any], message_ids: list[str]) -> dict[str, Any]:
    """An agent's answer (API.md 3) built in Python from ``AgentStore.get``."""
    registry = app.state.services.registry
    try:
        llm_config = resolve_handle(registry, agent["model"])
    except InvalidArgument:
        llm_config = {
            "handle": agent["model"],
            "model": agent["model"].partition("/")[2],
            "model_endpoint_type": "openai",
            "model_endpoint": None,
            "context_window": 0,
        }
    return {
        **agent,
        "memory": {"blocks": agent["blocks"]},
        "llm_config": llm_config,
        "tool_rules": [
            {"tool_name": t["name"], "type": "requires_approval"}
            for t in agent["tools"]
            if t.get("requires_approval")
        ],
        "sources": [],
        "message_ids": message_ids,
    }


def encoded(value: Any) -> bytes:
    """JSON as the server's Python path encoded it (Starlette's ``JSONResponse``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def expected(server: ServerThread, agent_ids: list[str]) -> list[dict[str, Any]]:
    async def build(app: Starlette) -> list[dict[str, Any]]:
        store = app.state.services.store
        ids = await store.conversations.default_context_ids(agent_ids)
        return [python_shape(app, await store.agents.get(a), ids[a]) for a in agent_ids]

    return server.call(build)


def make_varied_agents(server: ServerThread, http: httpx.Client) -> list[str]:
    def post(body: dict[str, Any]) -> dict[str, Any]:
        response = http.post("/v1/agents/", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    bare = post({"name": "bare", "memory_blocks": [], "include_base_tools": False})
    rich = post(
        {
            "name": f"rich {TEXT}",
            "description": TEXT,
            "system": TEXT,
            "tags": ["x", "ü", ""],
            "embedding": "openai/text-embedding-3-small",
            "memory_blocks": [
                {"label": "persona", "value": TEXT, "description": "who", "limit": 9000},
                {"label": "notes", "value": "", "read_only": True},
            ],
            "tool_rules": [{"tool_name": "memory_insert", "type": "requires_approval"}],
            "compaction_settings": {"mode": "sliding_window", "sliding_window_percentage": 0.3},
        }
    )
    shared = rich["blocks"][0]["id"]
    sharing = post(
        {
            "name": "sharing",
            "memory_blocks": [{"label": "human", "value": "Ada"}],
            "tools": ["conversation_search"],
            "include_base_tools": False,
        }
    )
    attach = f"/v1/agents/{sharing['id']}/core-memory/blocks/attach/{shared}"
    assert http.patch(attach).status_code == 200
    # Blocks and tools in the order attached, one tool needing approval.
    first = sharing["blocks"][0]["id"]
    reordered = http.patch(f"/v1/agents/{sharing['id']}", json={"block_ids": [shared, first]})
    assert reordered.status_code == 200, reordered.text
    tool_ids = {t["name"]: t["id"] for t in rich["tools"]}
    attached = http.patch(f"/v1/agents/{sharing['id']}/tools/attach/{tool_ids['memory_replace']}")
    assert attached.status_code == 200, attached.text
    approval = http.patch(
        f"/v1/agents/{sharing['id']}/tools/approval/memory_replace",
        json={"requires_approval": True},
    )
    assert approval.status_code == 200, approval.text
    # A default conversation with messages: message_ids are its in-context ids.
    talked = post({"name": "talked", "model": "builtin/echo"})
    sent = http.post(
        f"/v1/agents/{talked['id']}/messages",
        json={"messages": [{"role": "user", "content": "hello"}]},
    )
    assert sent.status_code == 200, sent.text
    # A model whose provider has left the config since the agent was made.
    gone = post({"name": "gone"})

    async def forget_provider(app: Starlette) -> None:
        await app.state.services.store.agents.update(gone["id"], {"model": "gone/model-1"})

    server.call(forget_provider)
    return [bare["id"], rich["id"], sharing["id"], talked["id"], gone["id"]]


def test_every_agent_answer_equals_the_python_shape(server: ServerThread) -> None:
    with server.client() as http:
        ids = make_varied_agents(server, http)
        shapes = expected(server, ids)
        by_id = dict(zip(ids, shapes, strict=True))
        assert by_id[ids[3]]["message_ids"], "the talked-to agent has in-context messages"
        assert by_id[ids[1]]["tool_rules"] == [
            {"tool_name": "memory_insert", "type": "requires_approval"}
        ]
        assert [t["name"] for t in by_id[ids[2]]["tools"]] == [
            "conversation_search",
            "memory_replace",
        ]
        assert by_id[ids[2]]["tool_rules"] == [
            {"tool_name": "memory_replace", "type": "requires_approval"}
        ]
        shared = by_id[ids[1]]["blocks"][0]
        assert [b["label"] for b in by_id[ids[2]]["blocks"]] == ["human", "persona"]
        assert by_id[ids[2]]["blocks"][1] == shared
        assert by_id[ids[4]]["llm_config"]["context_window"] == 0

        listed = http.get("/v1/agents/", params={"order": "asc"})
        assert listed.headers["content-type"] == "application/json"
        assert listed.content == encoded(shapes)
        assert http.get("/v1/agents/").content == encoded(shapes[::-1])
        # A long page is read on a reader thread, a short one on the event loop: the same JSON.
        long_page = http.get("/v1/agents/", params={"order": "asc", "limit": 1000})
        assert long_page.content == encoded(shapes)
        page = http.get("/v1/agents/", params={"order": "asc", "after": ids[0], "limit": 2})
        assert page.content == encoded(shapes[1:3])
        page = http.get("/v1/agents/", params={"order": "desc", "before": ids[1], "limit": 2})
        assert page.content == encoded(shapes[:1:-1][-2:])
        named = http.get("/v1/agents/", params={"name": "sharing"})
        assert named.content == encoded([by_id[ids[2]]])
        for agent_id, shape in by_id.items():
            assert http.get(f"/v1/agents/{agent_id}").content == encoded(shape)
        patched = http.patch(f"/v1/agents/{ids[0]}", json={"tags": ["new"]})
        assert patched.content == encoded(expected(server, [ids[0]])[0])


def test_the_letta_sdk_reads_every_agent(server: ServerThread) -> None:
    with server.client() as http:
        ids = make_varied_agents(server, http)
    client = Letta(base_url=server.url, api_key="unused")
    listed = list(client.agents.list(order="asc"))
    assert [a.id for a in listed] == ids
    rich = client.agents.retrieve(ids[1])
    assert rich.description == TEXT
    assert [b.label for b in rich.memory.blocks] == ["persona", "notes"]
    assert rich.llm_config.handle == "builtin/echo"
    assert listed[3].message_ids

"""Conversations and message listing over HTTP (API.md sections 5 and 5.1)."""

import httpx

from tests.backend.test_api_agents import make_agent
from tests.seed import seed_history
from tests.servers import ServerThread

MISSING_CONV = "conv-00000000-0000-4000-8000-000000000000"


def make_conversation(http: httpx.Client, agent_id: str, **body) -> dict:
    response = http.post("/v1/conversations/", params={"agent_id": agent_id}, json=body or None)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_get_list_patch_delete(http: httpx.Client) -> None:
    agent = make_agent(http)
    first = make_conversation(http, agent["id"])
    second = make_conversation(http, agent["id"], summary="trip planning")
    assert first["id"].startswith("conv-") and first["agent_id"] == agent["id"]
    assert first["in_context_message_ids"] == [] and first["summary"] is None
    assert second["summary"] == "trip planning"
    listed = http.get("/v1/conversations/", params={"agent_id": agent["id"]}).json()
    assert [c["id"] for c in listed] == [second["id"], first["id"]]
    asc = http.get(
        "/v1/conversations", params={"agent_id": agent["id"], "order": "asc", "after": first["id"]}
    ).json()
    assert [c["id"] for c in asc] == [second["id"]]
    patched = http.patch(f"/v1/conversations/{first['id']}", json={"summary": "renamed"})
    assert patched.json()["summary"] == "renamed"
    assert http.delete(f"/v1/conversations/{first['id']}").json() is None
    assert http.delete(f"/v1/conversations/{first['id']}").status_code == 404
    assert http.get(f"/v1/conversations/{first['id']}").status_code == 404


def test_conversations_are_per_agent(http: httpx.Client) -> None:
    a, b = make_agent(http), make_agent(http)
    conv = make_conversation(http, a["id"])
    assert http.get("/v1/conversations/", params={"agent_id": b["id"]}).json() == []
    cross = http.get("/v1/conversations/", params={"agent_id": b["id"], "after": conv["id"]})
    assert cross.status_code == 400


def test_conversation_errors(http: httpx.Client) -> None:
    missing_agent = http.post("/v1/conversations/", params={"agent_id": "agent-nope"})
    assert missing_agent.status_code == 404
    no_agent = http.post("/v1/conversations/")
    assert no_agent.status_code == 422 and "agent_id" in no_agent.json()["detail"]
    assert http.get("/v1/conversations/").status_code == 422
    for conv_id in (MISSING_CONV, "conv-bad", "x"):
        for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/messages")):
            response = http.request(
                method, f"/v1/conversations/{conv_id}{path}", json={"summary": "s"}
            )
            assert response.status_code == 404, (method, path)
            assert response.json()["code"] == "NOT_FOUND"
    agent = make_agent(http)
    conv = make_conversation(http, agent["id"])
    assert http.patch(f"/v1/conversations/{conv['id']}", json={}).status_code == 422


def test_messages_listing_and_in_context_ids(server: ServerThread, http: httpx.Client) -> None:
    agent = make_agent(http)
    conv = make_conversation(http, agent["id"])
    assert http.get(f"/v1/conversations/{conv['id']}/messages").json() == []
    ids = seed_history(server.settings.db_path, conv["id"], 7)
    listed = http.get(f"/v1/conversations/{conv['id']}/messages").json()
    assert [m["id"] for m in listed] == ids  # oldest first by default
    first = listed[0]
    assert first["role"] == "user" and first["message_type"] == "user_message"
    assert first["content"] == "message 0" and first["in_context"] is True
    assert listed[1]["role"] == "assistant"
    newest = http.get(
        f"/v1/conversations/{conv['id']}/messages", params={"order": "desc", "limit": 2}
    ).json()
    assert [m["id"] for m in newest] == ids[:-3:-1]
    older = http.get(
        f"/v1/conversations/{conv['id']}/messages",
        params={"order": "desc", "limit": 2, "after": newest[-1]["id"]},
    ).json()
    assert [m["id"] for m in older] == [ids[4], ids[3]]
    got = http.get(f"/v1/conversations/{conv['id']}").json()
    assert got["in_context_message_ids"] == ids
    assert got["last_message_at"] is not None


def test_foreign_cursor_is_400(server: ServerThread, http: httpx.Client) -> None:
    agent = make_agent(http)
    a, b = make_conversation(http, agent["id"]), make_conversation(http, agent["id"])
    ids = seed_history(server.settings.db_path, a["id"], 2)
    response = http.get(f"/v1/conversations/{b['id']}/messages", params={"after": ids[0]})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_ARGUMENT"
    limit = http.get(f"/v1/conversations/{a['id']}/messages", params={"limit": 1001})
    assert limit.status_code == 422


def test_a_long_id_list_follows_every_change(server: ServerThread, http: httpx.Client) -> None:
    """A long context's answer is kept between requests, but never outlives a change: one made
    through the API (a compaction), or straight in the file by another connection."""
    agent = make_agent(http)
    conversation = make_conversation(http, agent["id"])
    path = f"/v1/conversations/{conversation['id']}"
    ids = seed_history(server.settings.db_path, conversation["id"], 3000)
    first = http.get(path).json()
    assert first["in_context_message_ids"] == ids
    assert http.get(path).json() == first

    response = http.post(f"{path}/compact", json={"compaction_settings": {"mode": "all"}})
    assert response.status_code == 200, response.text
    after = http.get(path).json()["in_context_message_ids"]
    assert len(after) == 1 and after[0] not in ids

    more = seed_history(server.settings.db_path, conversation["id"], 2500)
    assert http.get(path).json()["in_context_message_ids"] == after + more

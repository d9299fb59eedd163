"""The message page's JSON, written by SQLite, equals ``to_wire`` for every kind of message.

``WIRE_JSON`` (SQL) and ``to_wire`` (Python) describe one shape (API.md 2); these tests store one
message of every type, with the awkward cases (missing and null details, nested values, text
that needs escaping), and compare the listed page with ``to_wire`` of the same rows.
"""

import asyncio
import sqlite3
from pathlib import Path

from backend.store import NewMessage, Store
from backend.store.messages import LISTED, columns, context_from, conversation_pos, to_wire
from tests.conftest import ServerFactory
from tests.seed import append_messages, new_agent
from tests.servers import ServerThread

TEXT = 'quotes " and \\ backslash, a tab\t, ünïcödé, an emoji 🌱, a NUL-free \x01 control\nline 2'
CALL = {"name": "lookup", "arguments": '{"q": "x"}', "tool_call_id": "call-1", "id": None}
MESSAGES = [
    NewMessage("system_message", "You are helpful."),
    NewMessage("user_message", TEXT, otid="otid-1", run_id="run-1"),
    NewMessage("reasoning_message", "thinking it over", run_id="run-1"),
    NewMessage("tool_call_message", extra=CALL),
    NewMessage("tool_call_message"),
    NewMessage("approval_request_message", extra=CALL),
    NewMessage(
        "approval_response_message",
        extra={
            "approvals": [{"approve": True, "reason": None, "nested": {"a": [1, 2.5]}}],
            "approve": None,
            "approval_request_id": "call-1",
            "reason": None,
        },
    ),
    NewMessage("approval_response_message"),
    NewMessage(
        "tool_return_message",
        TEXT,
        extra={"status": "error", "tool_call_id": "c", "name": "n", "stdout": ["out"]},
    ),
    NewMessage("tool_return_message", "plain"),
    NewMessage("tool_return_message", "null status", extra={"status": None, "stderr": "e"}),
    NewMessage("assistant_message", "failed half", is_err=True, in_context=False),
    NewMessage("assistant_message", "fine", is_err=False),
    NewMessage("summary_message", "they talked", extra={"num_messages_before": 9}),
    NewMessage("summary_message", "no counts"),
    NewMessage("event_message", "an event"),
]


def store_messages(db_path: Path) -> str:
    async def run() -> str:
        store = Store(db_path)
        await store.open()
        try:
            agent = await new_agent(store)
            conversation = await store.conversations.create(agent["id"], None)
            await append_messages(store, conversation["id"], MESSAGES)
            return conversation["id"]
        finally:
            await store.close()

    return asyncio.run(run())


def rows_of(db_path: Path, conversation_id: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            f"SELECT {columns(context_from(':c'))} FROM {LISTED}"
            f" WHERE cm.conversation_pos = {conversation_pos(':c')} ORDER BY cm.ord",
            {"c": conversation_id},
        ).fetchall()
    finally:
        conn.close()


def test_each_message_type_lists_as_to_wire_shapes_it(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "chinwag.db"
    conversation_id = store_messages(db)
    expected = [to_wire(r) for r in rows_of(db, conversation_id)]
    server = server_factory(db_path=db)
    with server.client() as http:
        path = f"/v1/conversations/{conversation_id}/messages"
        everything = {"include_compacted": "true", "limit": 100}
        response = http.get(path, params=everything)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == expected
        assert [m["id"] for m in expected] == [m.id for m in MESSAGES]
        newest_first = http.get(path, params={**everything, "order": "desc"}).json()
        assert newest_first == expected[::-1]
        before = http.get(
            path, params={**everything, "before": MESSAGES[3].id, "limit": 2, "order": "asc"}
        ).json()
        assert before == expected[1:3]
        in_context = http.get(path, params={"limit": 100}).json()
        assert in_context == [m for m in expected if m["in_context"]]


def test_conversation_lists_equal_each_conversation(server: ServerThread) -> None:
    """The lists' JSON (SQL) against GET of each conversation (Python), in both orders."""
    with server.client() as http:
        agent = http.post("/v1/agents/", json={"name": "a", "model": "builtin/echo"}).json()
        made = [
            http.post(
                "/v1/conversations/", params={"agent_id": agent["id"]}, json={"summary": s}
            ).json()
            for s in ('one "1" \\ ü', None, "drei")
        ]
        body = {"messages": [{"role": "user", "content": "hello"}]}
        assert http.post(f"/v1/conversations/{made[1]['id']}/messages", json=body).is_success
        each = {c["id"]: http.get(f"/v1/conversations/{c['id']}").json() for c in made}
        for order_by in ("created_at", "last_message_at"):
            listed = http.get(
                "/v1/conversations/",
                params={"agent_id": agent["id"], "order": "asc", "order_by": order_by},
            ).json()
            assert sorted(c["id"] for c in listed) == sorted(each)
            assert listed == [{**each[c["id"]], "in_context_message_ids": []} for c in listed]

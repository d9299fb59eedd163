"""Every reader of a message sends the JSON that API.md 2 describes, for every kind of message.

A message's JSON is written by SQLite when the row is written (``messages.wire``, schema
migration 13) and only read afterwards. These tests store one message of every type, with the
awkward cases (missing and null details, nested values, text that needs escaping), and compare
what each route answers with :func:`specified`, an independent rendering of the row's columns:
also after the row was edited, and for rows that were stored before the column existed.
"""

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from backend.store import NewMessage, Store
from backend.store.messages import (
    INSERT_MESSAGE,
    LISTED,
    columns,
    context_from,
    conversation_pos,
    message_values,
)
from backend.store.schema import MIGRATIONS
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

    conversation_id = asyncio.run(run())
    with sqlite3.connect(db_path) as conn:
        add_run(conn, conversation_id)
    return conversation_id


def add_run(conn: sqlite3.Connection, conversation_id: str) -> None:
    """The run that ``MESSAGES`` name, ended."""
    conn.execute(
        "INSERT INTO runs (id, conversation_id, agent_id, status, created_at)"
        " SELECT 'run-1', id, agent_id, 'completed', created_at FROM conversations WHERE id = ?",
        (conversation_id,),
    )


def specified(row: sqlite3.Row) -> dict[str, Any]:
    """A stored message as API.md 2 shapes it, from its columns and its listing's flag."""
    kind = row["message_type"]
    extra = json.loads(row["extra"]) if row["extra"] else {}
    message: dict[str, Any] = {
        "id": row["id"],
        "date": row["created_at"],
        "message_type": kind,
        "role": row["role"],
        "run_id": row["run_id"],
        "otid": row["otid"],
        "seq_id": None,
        "in_context": bool(row["in_context"]),
        "is_err": None if row["is_err"] is None else bool(row["is_err"]),
    }
    text = row["content"]
    if kind == "reasoning_message":
        message["reasoning"] = text
    elif kind in ("tool_call_message", "approval_request_message"):
        message["tool_call"] = extra
        message["tool_calls"] = [extra]
    elif kind == "approval_response_message":
        message.update(extra)
    elif kind == "tool_return_message":
        status = extra.get("status", "success")
        returned = {
            "type": "tool",
            "tool_call_id": extra.get("tool_call_id"),
            "status": status,
            "tool_return": text,
            "stdout": extra.get("stdout"),
            "stderr": extra.get("stderr"),
        }
        message.update(
            tool_return=text,
            status=status,
            tool_call_id=returned["tool_call_id"],
            name=extra.get("name"),
            stdout=returned["stdout"],
            stderr=returned["stderr"],
            tool_returns=[returned],
        )
    elif kind == "summary_message":
        message["summary"] = text
        message["content"] = text
        message.update(extra)
    else:
        message["content"] = text
    return message


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


def assert_read_as_specified(http: httpx.Client, db: Path, conversation_id: str) -> None:
    """Pages (the whole history, the context, both orders, a cursor), each message by id and
    a run's messages all answer :func:`specified` of the rows."""
    expected = [specified(r) for r in rows_of(db, conversation_id)]
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
    in_context = [m for m in expected if m["in_context"]]
    assert http.get(path, params={"limit": 100}).json() == in_context
    for message in expected:
        assert http.get(f"/v1/messages/{message['id']}").json() == [message]
    ran = http.get("/v1/runs/run-1/messages")
    assert ran.status_code == 200, ran.text
    assert ran.json() == [m for m in expected if m["run_id"] == "run-1"]


def assert_one_json_per_message(db: Path) -> None:
    """Every message has its stored JSON and no other is left; the text index is whole."""
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        stored = conn.execute("SELECT pos FROM message_json ORDER BY pos").fetchall()
        assert stored == conn.execute("SELECT pos FROM messages ORDER BY pos").fetchall()


def test_each_message_type_is_read_as_specified(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "chinwag.db"
    conversation_id = store_messages(db)
    server = server_factory(db_path=db)
    with server.client() as http:
        assert_read_as_specified(http, db, conversation_id)


def test_an_edited_message_is_read_with_its_new_text_and_error_flag(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """The routes that edit a stored message (a recompiled system message, a failed turn's
    input) change its columns; whatever changes them, the JSON read follows."""
    db = tmp_path / "chinwag.db"
    conversation_id = store_messages(db)
    server = server_factory(db_path=db)
    with server.client() as http:
        assert_read_as_specified(http, db, conversation_id)
        with sqlite3.connect(db) as conn:
            for id_, content, is_err in [
                (MESSAGES[0].id, 'A new system prompt with "quotes"', None),
                (MESSAGES[1].id, TEXT, 1),
                (MESSAGES[8].id, "returned again", 0),
                (MESSAGES[11].id, "failed half", None),
            ]:
                conn.execute(
                    "UPDATE messages SET content = ?, is_err = ? WHERE id = ?",
                    (content, is_err, id_),
                )
            conn.execute(
                "UPDATE messages SET extra = ? WHERE id = ?",
                (json.dumps({**CALL, "arguments": "{}"}), MESSAGES[3].id),
            )
        listed = http.get(f"/v1/messages/{MESSAGES[0].id}").json()
        assert listed[0]["content"] == 'A new system prompt with "quotes"'
        assert_read_as_specified(http, db, conversation_id)
        assert_one_json_per_message(db)
        assert http.delete(f"/v1/conversations/{conversation_id}").status_code < 300
    assert_one_json_per_message(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM message_json").fetchone() == (0,)


def test_messages_stored_before_their_json_was_kept_are_read_as_specified(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """A database of the schema before migration 13 gets every message's JSON on opening."""
    keeps = next(i for i, s in enumerate(MIGRATIONS) if "wire TEXT" in s)
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for version, script in enumerate(MIGRATIONS[:keeps], start=1):
            conn.executescript(f"{script}\nPRAGMA user_version = {version};")
        conn.execute(
            "INSERT INTO agents (id, name, model, system, agent_type, created_at, updated_at)"
            " VALUES ('agent-1', 'a', 'builtin/echo', 's', 'letta_v1_agent', 'then', 'then')"
        )
        conn.execute(
            "INSERT INTO conversations (id, agent_id, created_at, updated_at)"
            " VALUES ('conv-old', 'agent-1', 'then', 'then')"
        )
        for i, m in enumerate(MESSAGES, start=1):
            conn.execute(
                INSERT_MESSAGE, message_values("conv-old", m, f"2026-01-01T00:00:{i:02}", i << 16)
            )
            conn.execute(
                "INSERT INTO conversation_messages (conversation_pos, ord, message_id,"
                " message_pos, in_context) SELECT 1, ?, id, pos, ? FROM messages WHERE id = ?",
                (i << 16, int(m.in_context), m.id),
            )
        add_run(conn, "conv-old")
    server = server_factory(db_path=db)
    with server.client() as http:
        assert_read_as_specified(http, db, "conv-old")
        sent = http.post(
            "/v1/conversations/conv-old/messages",
            json={"messages": [{"role": "user", "content": "after the move"}]},
        )
        assert sent.status_code == 200, sent.text
    assert_one_json_per_message(db)


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

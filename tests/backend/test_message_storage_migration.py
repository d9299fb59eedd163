"""A database from before messages were stored once (schema.py migration 9) opens with every
history, fork, compacted message, failed turn and search hit as it was."""

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from backend.store.schema import MIGRATIONS
from tests.conftest import ServerFactory

# The migration that stores messages once; the database below is made by the ones before it.
ONCE = next(i for i, s in enumerate(MIGRATIONS) if "CREATE TABLE conversation_messages" in s)
NOW = "2026-11-24T10:00:00.000000+00:00"
S = 1 << 16  # ORD_STRIDE


def conversation(db: sqlite3.Connection, conversation_id: str) -> None:
    db.execute(
        "INSERT INTO conversations (id, agent_id, created_at, updated_at)"
        " VALUES (?, 'agent-1', ?, ?)",
        (conversation_id, NOW, NOW),
    )


def message(
    db: sqlite3.Connection,
    conversation_id: str,
    message_id: str,
    ord_: int,
    kind: str,
    content: str,
    *,
    in_context: int = 1,
    is_err: int | None = None,
) -> None:
    role = kind.split("_")[0]
    db.execute(
        "INSERT INTO messages (id, conversation_id, ord, message_type, role, content,"
        " in_context, is_err, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (message_id, conversation_id, ord_, kind, role, content, in_context, is_err, NOW),
    )


def fork_rows(db: sqlite3.Connection, source: str, fork: str) -> None:
    """As the old fork did: copies of the in-context rows after the system message."""
    db.execute(
        "INSERT INTO messages (id, conversation_id, ord, message_type, role, content, extra,"
        " run_id, otid, in_context, is_err, created_at, fts, src)"
        " SELECT id, ?, ord, message_type, role, content, extra, run_id, otid, 1, is_err,"
        " created_at, 0, COALESCE(src, pos) FROM messages WHERE conversation_id = ?"
        " AND in_context = 1 AND message_type <> 'system_message'",
        (fork, source),
    )


def old_database(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        for version, script in enumerate(MIGRATIONS[:ONCE], start=1):
            db.executescript(f"{script}\nPRAGMA user_version = {version};")
        db.execute(
            "INSERT INTO agents (id, name, model, system, agent_type, created_at, updated_at)"
            " VALUES ('agent-1', 'a', 'builtin/echo', 's', 'letta_v1_agent', ?, ?)",
            (NOW, NOW),
        )
        # A compacted source with a failed turn, and its fork.
        conversation(db, "conv-src")
        message(db, "conv-src", "m-sys", S, "system_message", "the prompt")
        message(db, "conv-src", "m-u1", 2 * S, "user_message", "aardvark early", in_context=0)
        message(db, "conv-src", "m-a1", 3 * S, "assistant_message", "reply one", in_context=0)
        message(db, "conv-src", "m-sum", 3 * S + 1, "summary_message", "they met an aardvark")
        message(db, "conv-src", "m-u2", 4 * S, "user_message", "a pangolin now")
        message(db, "conv-src", "m-a2", 5 * S, "assistant_message", "pangolin reply")
        message(
            db, "conv-src", "m-bad", 6 * S, "user_message", "failed ask", in_context=0, is_err=1
        )
        conversation(db, "conv-fork")
        message(db, "conv-fork", "m-fsys", 0, "system_message", "the fork's prompt")
        fork_rows(db, "conv-src", "conv-fork")
        # A fork whose source was deleted: its copy took over the message's search index.
        conversation(db, "conv-gone")
        message(db, "conv-gone", "m-x", S, "user_message", "a lonely quokka")
        conversation(db, "conv-heir")
        fork_rows(db, "conv-gone", "conv-heir")
        db.execute("DELETE FROM conversations WHERE id = 'conv-gone'")
        db.commit()
    finally:
        db.close()


def page(http: httpx.Client, conversation_id: str, **params: Any) -> list[tuple[str, bool]]:
    response = http.get(
        f"/v1/conversations/{conversation_id}/messages",
        params={"order": "asc", "limit": 100, **params},
    )
    assert response.status_code == 200, response.text
    return [(m["id"], m["in_context"]) for m in response.json()]


def found(http: httpx.Client, query: str) -> set[tuple[str, str]]:
    response = http.post("/v1/messages/search", json={"query": query})
    assert response.status_code == 200, response.text
    return {(h["message_id"], h["conversation_id"]) for h in response.json()}


def test_an_old_database_with_forks_and_compaction_migrates_without_loss(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    db_path = tmp_path / "old.db"
    old_database(db_path)
    server = server_factory(db_path)
    with server.client() as http:
        assert page(http, "conv-src", include_compacted="true") == [
            ("m-sys", True),
            ("m-u1", False),
            ("m-a1", False),
            ("m-sum", True),
            ("m-u2", True),
            ("m-a2", True),
            ("m-bad", False),
        ]
        assert http.get("/v1/conversations/conv-src").json()["in_context_message_ids"] == [
            "m-sys",
            "m-sum",
            "m-u2",
            "m-a2",
        ]
        fork_ids = ["m-fsys", "m-sum", "m-u2", "m-a2"]
        assert page(http, "conv-fork") == [(i, True) for i in fork_ids]
        assert http.get("/v1/conversations/conv-fork").json()["in_context_message_ids"] == (
            fork_ids
        )
        assert page(http, "conv-heir") == [("m-x", True)]
        assert found(http, "pangolin now") == {("m-u2", "conv-src"), ("m-u2", "conv-fork")}
        assert found(http, "quokka") == {("m-x", "conv-heir")}
        assert found(http, "aardvark early") == {("m-u1", "conv-src")}
        failed = http.get("/v1/messages/m-bad").json()[0]
        assert (failed["is_err"], failed["in_context"]) == (True, False)

        # Both sides go on their own ways.
        assert http.delete("/v1/conversations/conv-src").status_code < 300
        assert page(http, "conv-fork") == [(i, True) for i in fork_ids]
        assert found(http, "pangolin now") == {("m-u2", "conv-fork")}
        assert (
            found(http, "aardvark") == set()
        )  # only the source listed it; summaries are not searched
        sent = http.post(
            "/v1/conversations/conv-fork/messages",
            json={"messages": [{"role": "user", "content": "an okapi after the move"}]},
        )
        assert sent.status_code == 200, sent.text
        assert [i for i, _ in page(http, "conv-fork")][:4] == fork_ids
        assert {c for _, c in found(http, "okapi")} == {"conv-fork"}

    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        orphans = db.execute(
            "SELECT count(*) FROM messages m WHERE NOT EXISTS"
            " (SELECT 1 FROM conversation_messages cm WHERE cm.message_pos = m.pos)"
        ).fetchone()[0]
        assert orphans == 0
        gone = db.execute("SELECT count(*) FROM messages WHERE id IN ('m-u1', 'm-a1', 'm-bad')")
        assert gone.fetchone()[0] == 0  # listed only by the deleted source

"""A database from before lineages (schema.py migration 12) opens with each message found in
every conversation that lists it, forks of forks included: the conversations sharing messages,
directly or through another, are one lineage."""

import sqlite3
from pathlib import Path

import httpx

from backend.store.schema import MIGRATIONS
from tests.conftest import ServerFactory

LINEAGES = next(i for i, s in enumerate(MIGRATIONS) if "ADD COLUMN lineage" in s)
NOW = "2026-12-01T10:00:00.000000+00:00"
S = 1 << 16  # ORD_STRIDE


def conversation(db: sqlite3.Connection, conversation_id: str) -> int:
    cur = db.execute(
        "INSERT INTO conversations (id, agent_id, created_at, updated_at)"
        " VALUES (?, 'agent-1', ?, ?)",
        (conversation_id, NOW, NOW),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def message(db: sqlite3.Connection, origin: str, message_id: str, kind: str, text: str) -> int:
    cur = db.execute(
        "INSERT INTO messages (id, origin_id, message_type, role, content, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (message_id, origin, kind, kind.split("_")[0], text, NOW),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def list_in(db: sqlite3.Connection, conversation_pos: int, ord_: int, message_id: str) -> None:
    db.execute(
        "INSERT INTO conversation_messages (conversation_pos, ord, message_id, message_pos)"
        " SELECT ?, ?, id, pos FROM messages WHERE id = ?",
        (conversation_pos, ord_, message_id),
    )


def old_database(path: Path) -> None:
    """A root, its fork ``middle`` and that one's fork ``last``: ``last`` shares nothing with
    the root (the middle had compacted the root's turn away before it was forked), and a
    conversation unrelated to them all."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        for version, script in enumerate(MIGRATIONS[:LINEAGES], start=1):
            db.executescript(f"{script}\nPRAGMA user_version = {version};")
        db.execute(
            "INSERT INTO agents (id, name, model, system, agent_type, created_at, updated_at)"
            " VALUES ('agent-1', 'a', 'builtin/echo', 's', 'letta_v1_agent', ?, ?)",
            (NOW, NOW),
        )
        other = conversation(db, "conv-other")
        root = conversation(db, "conv-root")
        middle = conversation(db, "conv-middle")
        last = conversation(db, "conv-last")
        message(db, "conv-other", "m-other", "user_message", "a lone gecko")
        list_in(db, other, S, "m-other")
        message(db, "conv-root", "m-root-sys", "system_message", "the prompt")
        message(db, "conv-root", "m-root", "user_message", "a wombat dug")
        list_in(db, root, S, "m-root-sys")
        list_in(db, root, 2 * S, "m-root")
        message(db, "conv-middle", "m-middle-sys", "system_message", "the middle's prompt")
        list_in(db, middle, 0, "m-middle-sys")
        list_in(db, middle, 2 * S, "m-root")
        message(db, "conv-middle", "m-middle", "user_message", "an echidna came")
        list_in(db, middle, 3 * S, "m-middle")
        message(db, "conv-last", "m-last-sys", "system_message", "the last one's prompt")
        list_in(db, last, 0, "m-last-sys")
        list_in(db, last, 3 * S, "m-middle")
        db.commit()
    finally:
        db.close()


def found(http: httpx.Client, query: str) -> set[tuple[str, str]]:
    response = http.post("/v1/messages/search", json={"query": query})
    assert response.status_code == 200, response.text
    return {(h["message_id"], h["conversation_id"]) for h in response.json()}


def ids(http: httpx.Client, conversation_id: str) -> list[str]:
    response = http.get(f"/v1/conversations/{conversation_id}/messages", params={"order": "asc"})
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()]


def test_forks_of_forks_keep_their_messages_after_the_migration(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    db_path = tmp_path / "old.db"
    old_database(db_path)
    server = server_factory(db_path)
    with server.client() as http:
        assert found(http, "wombat") == {("m-root", "conv-root"), ("m-root", "conv-middle")}
        assert found(http, "echidna") == {("m-middle", "conv-middle"), ("m-middle", "conv-last")}
        assert found(http, "gecko") == {("m-other", "conv-other")}
        # A cursor in a fork finds the shared message where the fork lists it.
        after = http.get(
            "/v1/conversations/conv-last/messages", params={"after": "m-last-sys"}
        ).json()
        assert [m["id"] for m in after] == ["m-middle"]

        for gone in ("conv-root", "conv-middle"):
            assert http.delete(f"/v1/conversations/{gone}").status_code < 300
        assert ids(http, "conv-last") == ["m-last-sys", "m-middle"]
        assert found(http, "echidna") == {("m-middle", "conv-last")}
        assert found(http, "wombat") == set()
        got = http.get("/v1/messages/m-middle").json()
        assert [m["content"] for m in got] == ["an echidna came"]

        fork = http.post("/v1/conversations/conv-last/fork").json()
        assert fork["in_context_message_ids"][1:] == ["m-middle"]
        assert http.delete("/v1/conversations/conv-last").status_code < 300
        assert found(http, "echidna") == {("m-middle", fork["id"])}

    with sqlite3.connect(db_path) as db:
        left = {r[0] for r in db.execute("SELECT id FROM messages")}
        assert left == {"m-other", "m-middle", fork["in_context_message_ids"][0]}
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")

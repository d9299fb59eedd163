"""Everything written survives a restart on the same database file."""

import sqlite3

from tests.backend.test_api_agents import make_agent
from tests.backend.test_api_conversations import make_conversation
from tests.seed import seed_history


def test_restart_on_same_file_keeps_everything(server_factory, tmp_path) -> None:
    db = tmp_path / "durable.db"
    first = server_factory(db)
    with first.client() as http:
        agent = make_agent(http, name="keeper")
        conv = make_conversation(http, agent["id"], summary="kept")
        ids = seed_history(db, conv["id"], 25)
        http.patch(
            f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Name: Kim"}
        )
        before = (
            http.get(f"/v1/agents/{agent['id']}").json(),
            http.get(f"/v1/conversations/{conv['id']}").json(),
            http.get(f"/v1/conversations/{conv['id']}/messages").json(),
        )
    first.stop()
    second = server_factory(db)
    with second.client() as http:
        after = (
            http.get(f"/v1/agents/{agent['id']}").json(),
            http.get(f"/v1/conversations/{conv['id']}").json(),
            http.get(f"/v1/conversations/{conv['id']}/messages").json(),
        )
    assert after == before
    assert [m["id"] for m in after[2]] == ids


def test_new_file_is_migrated_and_in_wal_mode(server_factory, tmp_path) -> None:
    db = tmp_path / "nested" / "dir" / "new.db"
    server_factory(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

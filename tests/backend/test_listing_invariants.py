"""Random histories of sends, forks, summaries, resets and deletes: a message stays while any
conversation lists it, goes once none does, and is listed only where its lineage says
(``store.schema``, migrations 12 and 15)."""

import asyncio
import json
import random
import sqlite3
from pathlib import Path

import pytest

from backend.store import NewMessage, Store
from backend.store.messages import insert_rows
from tests.seed import append_messages, new_agent, turn_messages

CHECKS = {
    # A listing row whose message is gone: a message freed while still listed.
    "lost": "SELECT count(*) FROM conversation_messages cm"
    " WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.pos = cm.message_pos)",
    # A message no conversation lists: one that should have been freed.
    "unlisted": "SELECT count(*) FROM messages m"
    " WHERE NOT EXISTS (SELECT 1 FROM conversation_messages cm WHERE cm.message_pos = m.pos)",
    # A row that lists a message away from its origin_ord or outside its lineage.
    "misplaced": "SELECT count(*) FROM conversation_messages cm"
    " JOIN messages m ON m.pos = cm.message_pos JOIN conversations c ON c.pos = cm.conversation_pos"
    " WHERE cm.ord IS NOT m.origin_ord OR c.lineage IS NOT m.lineage",
}


async def play(db_path: Path, rng: random.Random, steps: int) -> list[str]:
    """Run ``steps`` random operations; the names of the checks that failed, with the step."""
    store = Store(db_path)
    await store.open()
    failed: list[str] = []
    try:
        agent = await new_agent(store)
        live: list[str] = []

        async def new_conversation() -> None:
            conversation = (await store.conversations.create(agent["id"], None))["id"]
            await append_messages(
                store, conversation, [NewMessage("system_message", "s"), *turn_messages(2)]
            )
            live.append(conversation)

        await new_conversation()
        for step in range(steps):
            if not live:
                await new_conversation()
            target = rng.choice(live)
            action = rng.choice(["send", "send", "fork", "fork_at", "summary", "reset", "delete"])
            if action == "send":
                await append_messages(store, target, turn_messages(rng.randint(1, 3)))
            elif action in ("fork", "fork_at"):
                rows = await store.messages.in_context_rows(target)
                at = rng.choice(rows)["id"] if action == "fork_at" and rows else None
                fork = await store.conversations.fork(target, "s", at)
                live.append(json.loads(fork)["id"])
            elif action == "summary":  # as compaction stores one: after the last it replaced
                await summarize(store, target, rng)
            elif action == "reset":
                async with store.db.transaction(bulk=True) as tx:
                    await tx.execute(
                        "DELETE FROM conversation_messages WHERE conversation_pos ="
                        " (SELECT pos FROM conversations WHERE id = ?)",
                        (target,),
                    )
            else:
                await store.conversations.delete(target)
                live.remove(target)
            with sqlite3.connect(db_path) as db:
                for name, sql in CHECKS.items():
                    if db.execute(sql).fetchone()[0]:
                        failed.append(f"{name} after step {step} ({action})")
            if failed:
                break
    finally:
        await store.close()
    return failed


async def summarize(store: Store, conversation_id: str, rng: random.Random) -> None:
    rows = await store.db.fetchall(
        "SELECT ord FROM conversation_messages"
        " WHERE conversation_pos = (SELECT pos FROM conversations WHERE id = ?) ORDER BY ord",
        (conversation_id,),
    )
    ords = [r["ord"] for r in rows]
    free = [o for o in ords[1:] if o + 1 not in ords]
    if free:
        async with store.db.transaction() as tx:
            summary = NewMessage("summary_message", "what came before")
            await insert_rows(tx, conversation_id, [(rng.choice(free) + 1, summary)], sent=False)


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_keep_every_listed_message_and_free_the_rest(
    tmp_path: Path, seed: int
) -> None:
    assert asyncio.run(play(tmp_path / "r.db", random.Random(seed), 60)) == []

"""Random histories of sends, forks, compactions, failed turns, resets and deletes (of
conversations, then of the agent): a message stays while any conversation lists it, goes once
none does, and is listed only where its lineage says (``store.schema``, migrations 12 and 15).
A history may pass through migration 15 midway, as the history of an older database does."""

import asyncio
import contextlib
import json
import random
import sqlite3
from pathlib import Path

import pytest

from backend import compaction
from backend.errors import NothingToCompact
from backend.llm import ProviderRegistry
from backend.runs.manager import RunManager
from backend.settings import Settings
from backend.store import NewMessage, Store
from backend.store.schema import MIGRATIONS
from shared_schema import CompactionSettings
from tests.backend.test_compaction_summary_perf_invariants import MODEL
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
# What migration 15 knows of forks made before it: its own UPDATE of ``forked_up_to``.
MIGRATION_15 = next(
    sql for sql in MIGRATIONS[14].split(";") if "UPDATE conversations SET forked_up_to" in sql
)
ACTIONS = [
    *["send", "send", "fork", "fork_at", "compact", "fail", "reset", "manager_reset"],
    *["delete", "before_15"],
]


async def play(db_path: Path, rng: random.Random, steps: int) -> list[str]:
    """Run ``steps`` random operations; the names of the checks that failed, with the step."""
    store = Store(db_path)
    await store.open()
    runs = RunManager(store, ProviderRegistry.from_config({}, {}), Settings(db_path=db_path))
    failed: list[str] = []

    def check(step: int, action: str) -> None:
        with sqlite3.connect(db_path) as db:
            for name, sql in CHECKS.items():
                if db.execute(sql).fetchone()[0]:
                    failed.append(f"{name} after step {step} ({action})")

    try:
        agent = await new_agent(store)
        bystander = await new_agent(store, name="b")  # its messages must outlive the agent's
        kept = (await store.conversations.create(bystander["id"], None))["id"]
        await append_messages(store, kept, [NewMessage("system_message", "s"), *turn_messages(4)])
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
            action = rng.choice(ACTIONS)
            if action == "send":
                await append_messages(store, target, turn_messages(rng.randint(1, 3)))
            elif action in ("fork", "fork_at"):
                rows = await store.messages.in_context_rows(target)
                at = rng.choice(rows)["id"] if action == "fork_at" and rows else None
                fork = await store.conversations.fork(target, "s", at)
                live.append(json.loads(fork)["id"])
            elif action == "reset":
                async with store.db.transaction(bulk=True) as tx:
                    await tx.execute(
                        "DELETE FROM conversation_messages WHERE conversation_pos ="
                        " (SELECT pos FROM conversations WHERE id = ?)",
                        (target,),
                    )
            elif action == "compact":
                mode = rng.choice(["all", "sliding_window"])
                with contextlib.suppress(NothingToCompact):
                    await compaction.compact(store, target, MODEL, CompactionSettings(mode=mode))
            elif action == "fail":  # as a turn the model refused takes its input out of context
                async with store.db.transaction() as tx:
                    await tx.execute(
                        "UPDATE conversation_messages SET in_context = 0 WHERE conversation_pos ="
                        " (SELECT pos FROM conversations WHERE id = ?) AND ord ="
                        " (SELECT max(ord) FROM conversation_messages WHERE conversation_pos ="
                        " (SELECT pos FROM conversations WHERE id = ?))",
                        (target, target),
                    )
            elif action == "manager_reset":
                await runs.reset(target)
            elif action == "before_15":  # the forks so far were made before migration 15
                async with store.db.transaction() as tx:
                    await tx.execute("UPDATE conversations SET forked_up_to = NULL")
                    await tx.execute(MIGRATION_15)
            else:
                await store.conversations.delete(target)
                live.remove(target)
            check(step, action)
            if failed:
                break
        if not failed:
            await store.agents.delete(agent["id"])
            check(steps, "agent delete")
            listed = await store.messages.in_context_rows(kept)
            if len(listed) != 5:
                failed.append(f"the other agent lists {len(listed)} messages, not 5")
    finally:
        await store.close()
    return failed


@pytest.mark.parametrize("seed", range(16))
def test_random_histories_keep_every_listed_message_and_free_the_rest(
    tmp_path: Path, seed: int
) -> None:
    assert asyncio.run(play(tmp_path / "r.db", random.Random(seed), 60)) == []

"""When the system message shows current memory (Letta's recompile rule, API.md section 7).

An agent's own memory edit reaches the model through the tool return, and the conversation's
system message stays as it was, so providers can keep caching the prompt's prefix. The system
message is compiled from current memory when a conversation starts, when compaction rebuilds
the context, at the next turn after a person changed a block, and on request (recompile).
``conversations.memory_seen`` is the block-history position the system message has seen.
"""

import sqlite3
from typing import Any

from backend.agent.context import compile_system
from backend.store import Store
from backend.store.db import Tx
from backend.store.messages import context_changed

# A conversation's system message is its first message (a fork's has its own).
_SYSTEM = (
    "SELECT * FROM (SELECT m.pos, m.content, m.message_type FROM conversation_messages cm"
    " JOIN messages m ON m.pos = cm.message_pos WHERE cm.conversation_pos ="
    " (SELECT pos FROM conversations WHERE id = ?)"
    " ORDER BY cm.ord LIMIT 1) WHERE message_type = 'system_message'"
)


async def system_row(tx: Tx, conversation_id: str) -> sqlite3.Row | None:
    """The conversation's own system message: its first row, stored with the first send."""
    async with tx.execute(_SYSTEM, (conversation_id,)) as cur:
        return await cur.fetchone()


async def mark_seen(store: Store, tx: Tx, conversation_id: str) -> None:
    """Record that the system message now shows memory up to the newest change."""
    head = await store.blocks.head()
    await tx.execute(
        "UPDATE conversations SET memory_seen = ? WHERE id = ?", (head, conversation_id)
    )


async def recompile_in(
    store: Store, tx: Tx, conversation_id: str, agent: dict[str, Any]
) -> tuple[str, bool]:
    """Rewrite the system message from current memory (inside the caller's transaction).

    Returns the text and whether it changed; a conversation not started yet has nothing to
    rewrite (its first send compiles it).
    """
    text = compile_system(agent)
    row = await system_row(tx, conversation_id)
    if row is None:
        return text, False
    changed = row["content"] != text
    if changed:
        await tx.execute("UPDATE messages SET content = ? WHERE pos = ?", (text, row["pos"]))
        await context_changed(tx, conversation_id)
    await mark_seen(store, tx, conversation_id)
    return text, changed


async def stale(store: Store, conversation: sqlite3.Row) -> bool:
    """Whether a person changed the agent's memory since the system message was compiled
    (``memory_seen`` below zero: a block was attached or detached)."""
    if conversation["memory_seen"] < 0:
        return True
    return await store.blocks.person_changed_since(
        conversation["agent_id"], conversation["memory_seen"]
    )


async def recompile(store: Store, conversation_id: str, *, dry_run: bool) -> tuple[str, bool]:
    """``POST …/recompile``: the current compiled text, stored unless ``dry_run``."""
    conversation = await store.conversations.row(conversation_id)
    agent = await store.agents.get(conversation["agent_id"])
    if dry_run:
        text = compile_system(agent)
        row = await store.db.fetchone(_SYSTEM, (conversation_id,))
        return text, row is not None and row["content"] != text
    async with store.db.transaction() as tx:
        return await recompile_in(store, tx, conversation_id, agent)

"""Put message histories straight into a database file, for tests and benchmarks of reading."""

import asyncio
from pathlib import Path

from backend.store import NewMessage, Store


def turn_messages(n: int, start: int = 0) -> list[NewMessage]:
    """``n`` alternating user/assistant messages with numbered, recognisable text."""
    kinds = ("user_message", "assistant_message")
    return [NewMessage(kinds[i % 2], content=f"message {start + i}") for i in range(n)]


async def append_messages(
    store: Store, conversation_id: str, messages: list[NewMessage]
) -> list[str]:
    async with store.db.transaction() as tx:
        return await store.messages.append(tx, conversation_id, messages)


def seed_history(db_path: Path, conversation_id: str, n: int, batch: int = 5000) -> list[str]:
    """Append ``n`` messages to a conversation through the store; returns their ids in order."""

    async def run() -> list[str]:
        store = Store(db_path)
        await store.open()
        try:
            ids: list[str] = []
            for start in range(0, n, batch):
                ids += await append_messages(
                    store, conversation_id, turn_messages(min(batch, n - start), start)
                )
            return ids
        finally:
            await store.close()

    return asyncio.run(run())


async def new_agent(store: Store, **fields: object) -> dict:
    """An agent on the builtin model with no memory blocks, straight through the store."""
    defaults: dict = {
        "name": "a",
        "model": "builtin/echo",
        "embedding": None,
        "system": "You are helpful.",
        "agent_type": "letta_v1_agent",
        "tags": [],
        "blocks": [],
    }
    return await store.agents.create(**{**defaults, **fields})

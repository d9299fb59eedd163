"""Conversations of an agent."""

import sqlite3
from typing import Any

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, now_iso
from backend.store.paging import Order, page_query
from shared_schema import new_id


def _conversation(row: sqlite3.Row, in_context_ids: list[str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "agent_id": row["agent_id"],
        "summary": row["summary"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_message_at": row["last_message_at"],
        "in_context_message_ids": in_context_ids,
    }


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, agent_id: str, summary: str | None) -> dict[str, Any]:
        conversation_id = new_id("conv")
        now = now_iso()
        async with self.db.transaction() as tx:
            async with tx.execute("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) as cur:
                if await cur.fetchone() is None:
                    raise NotFound.of("Agent", agent_id)
            await tx.execute(
                "INSERT INTO conversations (id, agent_id, summary, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (conversation_id, agent_id, summary, now, now),
            )
        return await self.get(conversation_id, with_context=False)

    async def row(self, conversation_id: str) -> sqlite3.Row:
        row = await self.db.fetchone("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFound.of("Conversation", conversation_id)
        return row

    async def get(self, conversation_id: str, *, with_context: bool = True) -> dict[str, Any]:
        row = await self.row(conversation_id)
        ids: list[str] = []
        if with_context:
            ids = [
                r["id"]
                for r in await self.db.fetchall(
                    "SELECT id FROM messages WHERE conversation_id = ? AND in_context = 1"
                    " ORDER BY ord",
                    (conversation_id,),
                )
            ]
        return _conversation(row, ids)

    async def page(
        self,
        agent_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        if await self.db.fetchone("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) is None:
            raise NotFound.of("Agent", agent_id)
        q = page_query(
            "pos",
            order,
            await self._pos(agent_id, after) if after else None,
            await self._pos(agent_id, before) if before else None,
        )
        where = " AND ".join(["agent_id = ?", *q.where])
        rows = await self.db.fetchall(
            f"SELECT * FROM conversations WHERE {where} ORDER BY {q.order_by} LIMIT ?",
            (agent_id, *q.params, limit),
        )
        if q.reverse:
            rows.reverse()
        return [_conversation(r, []) for r in rows]

    async def _pos(self, agent_id: str, conversation_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT pos FROM conversations WHERE id = ? AND agent_id = ?",
            (conversation_id, agent_id),
        )
        if row is None:
            raise InvalidArgument(
                f"The cursor {conversation_id} is not a conversation of this agent."
            )
        return row["pos"]

    async def update_summary(self, conversation_id: str, summary: str) -> dict[str, Any]:
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "UPDATE conversations SET summary = ?, updated_at = ? WHERE id = ?",
                (summary, now_iso(), conversation_id),
            )
            if cur.rowcount == 0:
                raise NotFound.of("Conversation", conversation_id)
        return await self.get(conversation_id)

    async def delete(self, conversation_id: str) -> None:
        async with self.db.transaction() as tx:
            cur = await tx.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise NotFound.of("Conversation", conversation_id)

"""Memory blocks changed one at a time, each change kept with its author and both values.

Every write of a block's value goes through here, by a person (the API) or by the agent (a
memory tool in a run), so the history is complete and the block's ``limit`` holds for both.
The edit is a read-modify-write inside one transaction: two conversations of one agent editing
the same block at once never lose each other's change.
"""

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, Tx, now_iso
from shared_schema import new_id


@dataclass(frozen=True)
class Author:
    """Who changed a block: a person through the API, or the agent through a tool in a run."""

    actor: str  # "person" | "agent"
    agent_id: str | None = None
    tool_name: str | None = None
    run_id: str | None = None


PERSON = Author("person")


class BlockEditError(ValueError):
    """An edit that cannot be made; ``str()`` is a sentence the model (or a person) can act on."""


def limit_error(limit: int, length: int) -> BlockEditError:
    return BlockEditError(f"Edit failed: Exceeds {limit} character limit (requested {length}).")


def block_to_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "label": row["label"],
        "value": row["value"],
        "limit": row["char_limit"],
        "description": row["description"],
        "read_only": bool(row["read_only"]),
    }


def history_to_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "block_id": row["block_id"],
        "version": row["version"],
        "actor": row["actor"],
        "agent_id": row["agent_id"],
        "tool_name": row["tool_name"],
        "run_id": row["run_id"],
        "before": row["before"],
        "after": row["after"],
        "created_at": row["created_at"],
    }


class BlockStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def record(tx: Tx, block_id: str, before: str | None, after: str, author: Author) -> None:
        """Append one change to the block's history (inside the caller's transaction)."""
        async with tx.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM block_history WHERE block_id = ?",
            (block_id,),
        ) as cur:
            row = await cur.fetchone()
        version = row[0] if row else 1
        await tx.execute(
            "INSERT INTO block_history (id, block_id, version, actor, agent_id, tool_name,"
            " run_id, before, after, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                new_id("bhist"),
                block_id,
                version,
                author.actor,
                author.agent_id,
                author.tool_name,
                author.run_id,
                before,
                after,
                now_iso(),
            ),
        )

    async def edit(
        self,
        agent_id: str,
        label: str,
        change: Callable[[str], str],
        author: Author,
        *,
        create: bool = False,
    ) -> dict[str, Any]:
        """Apply ``change`` to the value of the agent's block ``label``; the block afterwards.

        ``change`` may raise to refuse the edit (nothing is written). A missing block is a
        :class:`BlockEditError` unless ``create`` (then it starts empty).
        """
        async with self.db.transaction() as tx:
            async with tx.execute(
                "SELECT * FROM blocks WHERE agent_id = ? AND label = ?", (agent_id, label)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                if not create:
                    async with tx.execute(
                        "SELECT label FROM blocks WHERE agent_id = ? ORDER BY pos", (agent_id,)
                    ) as cur:
                        labels = [r["label"] for r in await cur.fetchall()]
                    raise BlockEditError(
                        f"Block field {label} does not exist "
                        f"(available sections = {', '.join(labels)})"
                    )
                block_id = new_id("block")
                await tx.execute(
                    "INSERT INTO blocks (id, agent_id, label, value, char_limit)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (block_id, agent_id, label, "", 5000),
                )
                async with tx.execute("SELECT * FROM blocks WHERE id = ?", (block_id,)) as cur:
                    row = await cur.fetchone()
                assert row is not None
            if row["read_only"] and author.actor == "agent":
                raise BlockEditError("Error This block is read-only and cannot be edited.")
            before = row["value"]
            after = change(before)
            if len(after) > row["char_limit"]:
                raise limit_error(row["char_limit"], len(after))
            await tx.execute("UPDATE blocks SET value = ? WHERE id = ?", (after, row["id"]))
            await tx.execute("UPDATE agents SET updated_at = ? WHERE id = ?", (now_iso(), agent_id))
            await self.record(tx, row["id"], before, after, author)
            async with tx.execute("SELECT * FROM blocks WHERE id = ?", (row["id"],)) as cur:
                updated = await cur.fetchone()
        assert updated is not None
        return block_to_wire(updated)

    async def get(self, block_id: str) -> dict[str, Any]:
        row = await self.db.fetchone("SELECT * FROM blocks WHERE id = ?", (block_id,))
        if row is None:
            raise NotFound.of("Block", block_id)
        return block_to_wire(row)

    async def history(
        self, block_id: str, *, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The block's changes, newest first; ``before`` is a version number to page from."""
        await self.get(block_id)
        rows = await self.db.fetchall(
            "SELECT * FROM block_history WHERE block_id = ? AND version < ?"
            " ORDER BY version DESC LIMIT ?",
            (block_id, before if before is not None else 1 << 62, limit),
        )
        return [history_to_wire(r) for r in rows]

    async def restore(self, block_id: str, version: int) -> dict[str, Any]:
        """Put back the value a block had after change ``version``; itself a new change."""
        async with self.db.transaction() as tx:
            async with tx.execute("SELECT * FROM blocks WHERE id = ?", (block_id,)) as cur:
                block = await cur.fetchone()
            if block is None:
                raise NotFound.of("Block", block_id)
            async with tx.execute(
                "SELECT after FROM block_history WHERE block_id = ? AND version = ?",
                (block_id, version),
            ) as cur:
                old = await cur.fetchone()
            if old is None:
                raise InvalidArgument(f"Block {block_id} has no version {version}.")
            if len(old["after"]) > block["char_limit"]:
                raise InvalidArgument(str(limit_error(block["char_limit"], len(old["after"]))))
            await tx.execute("UPDATE blocks SET value = ? WHERE id = ?", (old["after"], block_id))
            await tx.execute(
                "UPDATE agents SET updated_at = ? WHERE id = ?", (now_iso(), block["agent_id"])
            )
            await self.record(tx, block_id, block["value"], old["after"], PERSON)
        return await self.get(block_id)

    async def person_changed_since(self, agent_id: str, position: int) -> bool:
        """Whether a person changed one of the agent's blocks after history ``position``."""
        row = await self.db.fetchone(
            "SELECT 1 FROM block_history h JOIN blocks b ON b.id = h.block_id"
            " WHERE b.agent_id = ? AND h.actor = 'person' AND h.pos > ? LIMIT 1",
            (agent_id, position),
        )
        return row is not None

    async def head(self) -> int:
        """The newest history position: what a system message compiled now has seen."""
        row = await self.db.fetchone("SELECT COALESCE(MAX(pos), 0) AS head FROM block_history")
        return row["head"] if row else 0

"""Memory blocks: stand-alone, shared by any number of agents, each change kept with its author.

Every write of a block's value goes through here, by a person (the API) or by the agent (a
memory tool in a run), so the history is complete and the block's ``limit`` holds for both.
An agent's edit is a read-modify-write inside one transaction: two conversations editing the
same block at once never lose each other's change. ``agent_blocks`` says which agents have a
block; a label is unique among one agent's blocks.
"""

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, Tx, now_iso
from backend.store.paging import in_creation_order
from shared_schema import new_id

DEFAULT_LIMIT = 5000


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


async def _one(tx: Tx, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
    async with tx.execute(sql, params) as cur:
        return await cur.fetchone()


class BlockStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writing, inside a caller's transaction ------------------------------------------

    @staticmethod
    async def record(tx: Tx, block_id: str, before: str | None, after: str, author: Author) -> None:
        """Append one change to the block's history."""
        row = await _one(
            tx,
            "SELECT COALESCE(MAX(version), 0) + 1 FROM block_history WHERE block_id = ?",
            (block_id,),
        )
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

    @staticmethod
    async def create_in(tx: Tx, block: dict[str, Any]) -> str:
        """Store a new block (``label``, ``value``, ``limit``…) with its first version; its id."""
        if len(block["value"]) > block["limit"]:
            raise InvalidArgument(str(limit_error(block["limit"], len(block["value"]))))
        block_id = new_id("block")
        await tx.execute(
            "INSERT INTO blocks (id, label, value, char_limit, description, read_only)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                block_id,
                block["label"],
                block["value"],
                block["limit"],
                block.get("description"),
                int(block.get("read_only", False)),
            ),
        )
        await BlockStore.record(tx, block_id, None, block["value"], PERSON)
        return block_id

    @staticmethod
    async def create_for_new_agent(tx: Tx, agent_id: str, blocks: list[dict[str, Any]]) -> None:
        """Store a new agent's own blocks, each with its first version, attached in their
        order: what :meth:`create_in` and :meth:`attach_in` do for each, in one statement per
        table (the agent has no other block yet; the caller checked that labels differ)."""
        for block in blocks:
            if len(block["value"]) > block["limit"]:
                raise InvalidArgument(str(limit_error(block["limit"], len(block["value"]))))
        ids = [new_id("block") for _ in blocks]
        now = now_iso()
        await tx.executemany(
            "INSERT INTO blocks (id, label, value, char_limit, description, read_only)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    block_id,
                    b["label"],
                    b["value"],
                    b["limit"],
                    b.get("description"),
                    int(b.get("read_only", False)),
                )
                for block_id, b in zip(ids, blocks, strict=True)
            ],
        )
        await tx.executemany(
            "INSERT INTO block_history (id, block_id, version, actor, agent_id, tool_name,"
            " run_id, before, after, created_at) VALUES (?,?,1,?,?,?,?,NULL,?,?)",
            [
                (
                    new_id("bhist"),
                    block_id,
                    PERSON.actor,
                    PERSON.agent_id,
                    PERSON.tool_name,
                    PERSON.run_id,
                    b["value"],
                    now,
                )
                for block_id, b in zip(ids, blocks, strict=True)
            ],
        )
        await tx.executemany(
            "INSERT INTO agent_blocks (agent_id, block_id, pos) VALUES (?, ?, ?)",
            [(agent_id, block_id, pos) for pos, block_id in enumerate(ids, start=1)],
        )

    @staticmethod
    async def attach_in(tx: Tx, agent_id: str, block_id: str) -> None:
        """Give the agent the block; 400 if the agent has another block with its label."""
        block = await _one(tx, "SELECT label FROM blocks WHERE id = ?", (block_id,))
        if block is None:
            raise NotFound.of("Block", block_id)
        clash = await _one(
            tx,
            "SELECT b.id FROM agent_blocks a JOIN blocks b ON b.id = a.block_id"
            " WHERE a.agent_id = ? AND b.label = ?",
            (agent_id, block["label"]),
        )
        if clash is not None and clash["id"] != block_id:
            raise InvalidArgument(
                f"Agent {agent_id} already has a memory block labelled {block['label']!r}."
            )
        position = await _one(
            tx, "SELECT COALESCE(MAX(pos), 0) + 1 FROM agent_blocks WHERE agent_id = ?", (agent_id,)
        )
        await tx.execute(
            "INSERT OR IGNORE INTO agent_blocks (agent_id, block_id, pos) VALUES (?, ?, ?)",
            (agent_id, block_id, position[0] if position else 1),
        )

    @staticmethod
    async def _touch(tx: Tx, block_id: str) -> None:
        """The agents that have a block changed with it."""
        await tx.execute(
            "UPDATE agents SET updated_at = ? WHERE id IN"
            " (SELECT agent_id FROM agent_blocks WHERE block_id = ?)",
            (now_iso(), block_id),
        )

    # --- the agent's edits ---------------------------------------------------------------

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
            row = await _one(
                tx,
                "SELECT b.* FROM agent_blocks a JOIN blocks b ON b.id = a.block_id"
                " WHERE a.agent_id = ? AND b.label = ?",
                (agent_id, label),
            )
            if row is None:
                if not create:
                    async with tx.execute(
                        "SELECT b.label FROM agent_blocks a JOIN blocks b ON b.id = a.block_id"
                        " WHERE a.agent_id = ? ORDER BY a.pos",
                        (agent_id,),
                    ) as cur:
                        labels = [r["label"] for r in await cur.fetchall()]
                    raise BlockEditError(
                        f"Block field {label} does not exist "
                        f"(available sections = {', '.join(labels)})"
                    )
                block = {"label": label, "value": "", "limit": DEFAULT_LIMIT}
                block_id = await self.create_in(tx, block)
                await self.attach_in(tx, agent_id, block_id)
                row = await _one(tx, "SELECT * FROM blocks WHERE id = ?", (block_id,))
                assert row is not None
            if row["read_only"] and author.actor == "agent":
                raise BlockEditError("Error This block is read-only and cannot be edited.")
            before = row["value"]
            after = change(before)
            if len(after) > row["char_limit"]:
                raise limit_error(row["char_limit"], len(after))
            await tx.execute("UPDATE blocks SET value = ? WHERE id = ?", (after, row["id"]))
            await self._touch(tx, row["id"])
            await self.record(tx, row["id"], before, after, author)
            updated = await _one(tx, "SELECT * FROM blocks WHERE id = ?", (row["id"],))
        assert updated is not None
        return block_to_wire(updated)

    # --- a person's changes --------------------------------------------------------------

    async def create(self, block: dict[str, Any]) -> dict[str, Any]:
        async with self.db.transaction() as tx:
            block_id = await self.create_in(tx, block)
        return await self.get(block_id)

    async def update(self, block_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A person changes a block's value, limit, description, label or read_only flag."""
        columns = {("char_limit" if k == "limit" else k): v for k, v in changes.items()}
        if "read_only" in columns:
            columns["read_only"] = int(columns["read_only"])
        async with self.db.transaction() as tx:
            old = await _one(tx, "SELECT * FROM blocks WHERE id = ?", (block_id,))
            if old is None:
                raise NotFound.of("Block", block_id)
            value = changes.get("value", old["value"])
            limit = changes.get("limit", old["char_limit"])
            if len(value) > limit:  # a 400: a schema cannot say "shorter than limit"
                raise InvalidArgument(str(limit_error(limit, len(value))))
            if "label" in changes and changes["label"] != old["label"]:
                clash = await _one(
                    tx,
                    "SELECT a.agent_id FROM agent_blocks a JOIN blocks b ON b.id = a.block_id"
                    " WHERE b.label = ? AND a.agent_id IN"
                    " (SELECT agent_id FROM agent_blocks WHERE block_id = ?)",
                    (changes["label"], block_id),
                )
                if clash is not None:
                    raise InvalidArgument(
                        f"Agent {clash['agent_id']} already has a memory block labelled "
                        f"{changes['label']!r}."
                    )
            if columns:
                sets = ", ".join(f"{k} = ?" for k in columns)
                await tx.execute(
                    f"UPDATE blocks SET {sets} WHERE id = ?", (*columns.values(), block_id)
                )
            if value != old["value"]:
                await self.record(tx, block_id, old["value"], value, PERSON)
            await self._touch(tx, block_id)
        return await self.get(block_id)

    async def delete(self, block_id: str) -> None:
        async with self.db.transaction() as tx:
            await self._touch(tx, block_id)
            cur = await tx.execute("DELETE FROM blocks WHERE id = ?", (block_id,))
            if cur.rowcount == 0:
                raise NotFound.of("Block", block_id)
            await tx.execute("DELETE FROM block_history WHERE block_id = ?", (block_id,))

    @staticmethod
    async def _memory_changed(tx: Tx, agent_id: str) -> None:
        """The agent's set of blocks changed: its conversations recompile on their next turn."""
        await tx.execute(
            "UPDATE conversations SET memory_seen = -1 WHERE agent_id = ?", (agent_id,)
        )

    async def attach(self, agent_id: str, block_id: str) -> None:
        async with self.db.transaction() as tx:
            await self.attach_in(tx, agent_id, block_id)
            await self._touch(tx, block_id)
            await self._memory_changed(tx, agent_id)

    async def replace(self, agent_id: str, block_ids: list[str]) -> None:
        """The agent's blocks become exactly these (an unknown one is a 400, nothing changes)."""
        async with self.db.transaction() as tx:
            for block_id in block_ids:
                if await _one(tx, "SELECT 1 FROM blocks WHERE id = ?", (block_id,)) is None:
                    raise InvalidArgument(f"Unknown block id {block_id!r} in block_ids.")
            marks = ",".join("?" * len(block_ids))
            await tx.execute(
                f"DELETE FROM agent_blocks WHERE agent_id = ? AND block_id NOT IN ({marks})",
                (agent_id, *block_ids),
            )
            for block_id in block_ids:
                await self.attach_in(tx, agent_id, block_id)
            await self._memory_changed(tx, agent_id)

    async def detach(self, agent_id: str, block_id: str) -> None:
        await self.get(block_id)
        async with self.db.transaction() as tx:
            await self._touch(tx, block_id)
            await tx.execute(
                "DELETE FROM agent_blocks WHERE agent_id = ? AND block_id = ?",
                (agent_id, block_id),
            )
            await self._memory_changed(tx, agent_id)

    async def restore(self, block_id: str, version: int) -> dict[str, Any]:
        """Put back the value a block had after change ``version``; itself a new change."""
        async with self.db.transaction() as tx:
            block = await _one(tx, "SELECT * FROM blocks WHERE id = ?", (block_id,))
            if block is None:
                raise NotFound.of("Block", block_id)
            old = await _one(
                tx,
                "SELECT after FROM block_history WHERE block_id = ? AND version = ?",
                (block_id, version),
            )
            if old is None:
                raise InvalidArgument(f"Block {block_id} has no version {version}.")
            if len(old["after"]) > block["char_limit"]:
                raise InvalidArgument(str(limit_error(block["char_limit"], len(old["after"]))))
            await tx.execute("UPDATE blocks SET value = ? WHERE id = ?", (old["after"], block_id))
            await self._touch(tx, block_id)
            await self.record(tx, block_id, block["value"], old["after"], PERSON)
        return await self.get(block_id)

    # --- reading -------------------------------------------------------------------------

    async def get(self, block_id: str) -> dict[str, Any]:
        row = await self.db.fetchone("SELECT * FROM blocks WHERE id = ?", (block_id,))
        if row is None:
            raise NotFound.of("Block", block_id)
        return block_to_wire(row)

    async def id_of(self, agent_id: str, label: str) -> str:
        """The id of the agent's block ``label`` (404 naming it if there is none)."""
        row = await self.db.fetchone(
            "SELECT b.id FROM agent_blocks a JOIN blocks b ON b.id = a.block_id"
            " WHERE a.agent_id = ? AND b.label = ?",
            (agent_id, label),
        )
        if row is None:
            raise NotFound(f"Agent {agent_id} has no memory block labelled {label!r}.")
        return row["id"]

    async def of_agents(self, agent_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each agent's blocks, in the order they were given to it."""
        marks = ",".join("?" * len(agent_ids))
        rows = await self.db.fetchall(
            "SELECT a.agent_id, b.* FROM agent_blocks a JOIN blocks b ON b.id = a.block_id"
            f" WHERE a.agent_id IN ({marks}) ORDER BY a.agent_id, a.pos",
            tuple(agent_ids),
            rows=len(agent_ids),  # a few blocks each
        )
        found: dict[str, list[dict[str, Any]]] = {i: [] for i in agent_ids}
        for r in rows:
            found[r["agent_id"]].append(block_to_wire(r))
        return found

    async def find(
        self, *, label: str | None = None, after: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """All blocks in creation order, optionally by label; ``after`` is a block id."""
        rows = await self.db.fetchall(*in_creation_order("blocks", "label", label, after, limit))
        return [block_to_wire(r) for r in rows]

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

    async def person_changed_since(self, agent_id: str, position: int) -> bool:
        """Whether a person changed one of the agent's blocks after history ``position``."""
        row = await self.db.fetchone(
            "SELECT 1 FROM agent_blocks a JOIN block_history h ON h.block_id = a.block_id"
            " WHERE a.agent_id = ? AND h.actor = 'person' AND h.pos > ? LIMIT 1",
            (agent_id, position),
        )
        return row is not None

    async def head(self) -> int:
        """The newest history position: what a system message compiled now has seen."""
        row = await self.db.fetchone("SELECT COALESCE(MAX(pos), 0) AS head FROM block_history")
        return row["head"] if row else 0

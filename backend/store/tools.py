"""Tools the server knows, and which of them each agent has (with its approval setting)."""

import json
import sqlite3
from typing import Any

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, Tx, dumps, now_iso
from backend.store.paging import in_creation_order
from shared_schema import new_id


def tool_to_wire(row: sqlite3.Row) -> dict[str, Any]:
    tool = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "json_schema": json.loads(row["json_schema"]),
        "tool_type": row["tool_type"],
    }
    if "requires_approval" in row.keys():  # noqa: SIM118 - sqlite3.Row has no __contains__
        tool["requires_approval"] = bool(row["requires_approval"])
    return tool


class ToolStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_name: dict[str, str] | None = None  # every tool's id by its name
        self._ids: set[str] = set()

    async def ensure(self, definitions: list[dict[str, Any]]) -> None:
        """Insert or refresh tool definitions by name; ids stay stable across restarts."""
        async with self.db.transaction() as tx:
            for d in definitions:
                await tx.execute(
                    "INSERT INTO tools (id, name, description, json_schema, tool_type, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " description = excluded.description, json_schema = excluded.json_schema,"
                    " tool_type = excluded.tool_type",
                    (
                        new_id("tool"),
                        d["name"],
                        d["description"],
                        dumps(d["json_schema"]),
                        d["tool_type"],
                        now_iso(),
                    ),
                )

    async def find(
        self, name: str | None = None, *, after: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Tools in creation order, optionally by name; ``after`` is a tool id (a cursor the
        SDK's iterator sends until it gets an empty page)."""
        rows = await self.db.fetchall(*in_creation_order("tools", "name", name, after, limit))
        return [tool_to_wire(r) for r in rows]

    async def get(self, tool_id: str) -> dict[str, Any]:
        row = await self.db.fetchone("SELECT * FROM tools WHERE id = ?", (tool_id,))
        if row is None:
            raise NotFound.of("Tool", tool_id)
        return tool_to_wire(row)

    async def resolve(self, names: list[str], ids: list[str]) -> list[str]:
        """Tool ids for names and ids, in the order given; an unknown one is a 400 naming it.

        Tools are only ever added (their ids stay), so the names and ids read once stay
        right; they are read again only when one asked for is not among them (another
        process may have added it)."""
        by_name = self._by_name
        if by_name is None or not (set(names) <= by_name.keys() and set(ids) <= self._ids):
            rows = await self.db.fetchall("SELECT id, name FROM tools")
            by_name = self._by_name = {r["name"]: r["id"] for r in rows}
            self._ids = set(by_name.values())
        known_ids = self._ids
        resolved: list[str] = []
        for name in names:
            if name not in by_name:
                raise InvalidArgument(
                    f"Unknown tool {name!r}. This server has: {', '.join(sorted(by_name))}."
                )
            resolved.append(by_name[name])
        for tool_id in ids:
            if tool_id not in known_ids:
                raise InvalidArgument(f"Unknown tool id {tool_id!r}.")
            resolved.append(tool_id)
        return list(dict.fromkeys(resolved))

    @staticmethod
    async def attach_in(
        tx: Tx, agent_id: str, tool_ids: list[str], *, last: int | None = None
    ) -> None:
        """Give the agent these tools (inside the caller's transaction); already there is fine.
        ``last`` is the position of the agent's last tool when the caller knows it (0 for a
        new agent), saving its lookup."""
        if last is None:
            async with tx.execute(
                "SELECT COALESCE(MAX(pos), 0) FROM agent_tools WHERE agent_id = ?", (agent_id,)
            ) as cur:
                row = await cur.fetchone()
            last = row[0] if row else 0
        start = last + 1
        await tx.executemany(
            "INSERT OR IGNORE INTO agent_tools (agent_id, tool_id, pos) VALUES (?, ?, ?)",
            [(agent_id, tool_id, start + i) for i, tool_id in enumerate(tool_ids)],
        )

    async def attach(self, agent_id: str, tool_id: str) -> None:
        await self.get(tool_id)
        async with self.db.transaction() as tx:
            await self.attach_in(tx, agent_id, [tool_id])

    async def replace(self, agent_id: str, tool_ids: list[str]) -> None:
        """The agent's tools become exactly these; those it keeps keep their approval setting."""
        async with self.db.transaction() as tx:
            marks = ",".join("?" * len(tool_ids))
            await tx.execute(
                f"DELETE FROM agent_tools WHERE agent_id = ? AND tool_id NOT IN ({marks})",
                (agent_id, *tool_ids),
            )
            await self.attach_in(tx, agent_id, tool_ids)

    async def detach(self, agent_id: str, tool_id: str) -> None:
        await self.get(tool_id)
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM agent_tools WHERE agent_id = ? AND tool_id = ?", (agent_id, tool_id)
            )

    async def set_approval(self, agent_id: str, tool_name: str, requires_approval: bool) -> None:
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "UPDATE agent_tools SET requires_approval = ? WHERE agent_id = ?"
                " AND tool_id = (SELECT id FROM tools WHERE name = ?)",
                (int(requires_approval), agent_id, tool_name),
            )
            if cur.rowcount == 0:
                raise NotFound(f"Agent {agent_id} has no tool named {tool_name!r}.")

    async def for_agents(self, agent_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each agent's tools in the order they were attached, with ``requires_approval``."""
        marks = ",".join("?" * len(agent_ids))
        rows = await self.db.fetchall(
            "SELECT t.*, a.agent_id, a.requires_approval FROM agent_tools a"
            f" JOIN tools t ON t.id = a.tool_id WHERE a.agent_id IN ({marks}) ORDER BY a.pos",
            tuple(agent_ids),
            rows=len(agent_ids),  # a few tools each
        )
        found: dict[str, list[dict[str, Any]]] = {i: [] for i in agent_ids}
        # Agents share their tools: each one (and its schema's JSON) is built once per call.
        built: dict[tuple[str, int], dict[str, Any]] = {}
        for r in rows:
            key = (r["id"], r["requires_approval"])
            tool = built.get(key)
            if tool is None:
                tool = built[key] = tool_to_wire(r)
            found[r["agent_id"]].append(tool)
        return found

"""Agents and their memory blocks."""

import json
import sqlite3
from typing import Any, NamedTuple

from backend.errors import InvalidArgument, NotFound
from backend.store.blocks import BlockStore
from backend.store.db import Database, dumps, now_iso
from backend.store.paging import Order, page_query
from backend.store.tools import ToolStore
from shared_schema import new_id

# An agent's answer (API.md 3), its parts written by SQLite in one statement (no Python object
# per field or block), joined by ``backend.api.agents`` with what the store does not hold
# (``llm_config``, from the provider registry). tests/backend/test_agent_json.py holds the
# answer equal to the shape built in Python from ``AgentStore.get``. Each aggregate takes its
# rows in its subquery's order, which an index gives without sorting.
_HEAD_JSON = (
    "json_object('id', id, 'name', name, 'model', model, 'embedding', embedding,"
    " 'system', system, 'agent_type', agent_type, 'tags', json(tags),"
    " 'description', description, 'compaction_settings', json(compaction_settings))"
)
_BLOCKS_JSON = (
    "(SELECT json_group_array(json_object('id', id, 'label', label, 'value', value,"
    " 'limit', char_limit, 'description', description,"
    " 'read_only', json(CASE WHEN read_only THEN 'true' ELSE 'false' END)))"
    " FROM (SELECT b.* FROM agent_blocks ab JOIN blocks b ON b.id = ab.block_id"
    " WHERE ab.agent_id = a.id ORDER BY ab.pos))"
)
_TOOLS_JSON = (
    "(SELECT json_group_array(json_object('id', id, 'name', name, 'description', description,"
    " 'json_schema', json(json_schema), 'tool_type', tool_type,"
    " 'requires_approval', json(CASE WHEN requires_approval THEN 'true' ELSE 'false' END)))"
    " FROM (SELECT t.*, at.requires_approval FROM agent_tools at JOIN tools t ON t.id = at.tool_id"
    " WHERE at.agent_id = a.id ORDER BY at.pos))"
)
_TIMES_JSON = "json_object('created_at', created_at, 'updated_at', updated_at)"
_TOOL_RULES_JSON = (
    "(SELECT json_group_array(json_object('tool_name', name, 'type', 'requires_approval'))"
    " FROM (SELECT t.name FROM agent_tools at JOIN tools t ON t.id = at.tool_id"
    " WHERE at.agent_id = a.id AND at.requires_approval ORDER BY at.pos))"
)
# An agent's row reads its blocks and tools too and writes several times a message's JSON: as
# the database's reads go (``Database.read``), a page of 50 agents is read on the event loop
# (about 1.4 ms here with the base tools), a longer one on a reader thread.
ROWS_PER_AGENT = 4
_HAS_DEFAULT = "EXISTS (SELECT 1 FROM conversations c WHERE c.agent_id = a.id AND c.is_default = 1)"


class AgentJson(NamedTuple):
    """One agent's answer in parts, each a JSON text: ``head`` and ``times`` are objects
    (the fields before ``blocks``, and ``created_at`` with ``updated_at``), ``blocks``,
    ``tools`` and ``tool_rules`` arrays."""

    id: str
    model: str
    has_default: bool
    head: str
    blocks: str
    tools: str
    times: str
    tool_rules: str


_AGENT_JSON_COLUMNS = (
    f"a.id, a.model, {_HAS_DEFAULT}, {_HEAD_JSON}, {_BLOCKS_JSON}, {_TOOLS_JSON},"
    f" {_TIMES_JSON}, {_TOOL_RULES_JSON}"
)


class AgentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, **fields: Any) -> dict[str, Any]:
        """A new agent (see :meth:`insert` for the fields), read back whole."""
        return await self.get(await self.insert(**fields))

    async def insert(
        self,
        *,
        name: str | None,
        model: str,
        embedding: str | None,
        system: str,
        agent_type: str,
        tags: list[str],
        blocks: list[dict[str, Any]],
        description: str | None = None,
        tool_ids: list[str] | None = None,
        block_ids: list[str] | None = None,
    ) -> str:
        """Store a new agent with its blocks and tools; its id. A route that answers with the
        agent's JSON (written by SQLite) needs nothing more, so reading it back is left to
        :meth:`create`."""
        agent_id = new_id("agent")
        name = name or agent_id[: len("agent-") + 8]
        now = now_iso()
        labels = [b["label"] for b in blocks]
        if len(set(labels)) != len(labels):
            raise InvalidArgument("Memory block labels must be unique within an agent.")
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO agents (id, name, model, embedding, system, agent_type, tags,"
                " description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    agent_id,
                    name,
                    model,
                    embedding,
                    system,
                    agent_type,
                    dumps(tags),
                    description,
                    now,
                    now,
                ),
            )
            await BlockStore.create_for_new_agent(tx, agent_id, blocks)
            for block_id in block_ids or []:
                await BlockStore.attach_in(tx, agent_id, block_id)
            await ToolStore.attach_in(tx, agent_id, tool_ids or [], last=0)
        return agent_id

    async def get(self, agent_id: str) -> dict[str, Any]:
        row = await self.db.fetchone("SELECT * FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            raise NotFound.of("Agent", agent_id)
        return (await self._with_blocks([row]))[0]

    async def require(self, agent_id: str) -> None:
        """404 unless the agent exists: for routes that only address it."""
        if await self.db.fetchone("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) is None:
            raise NotFound.of("Agent", agent_id)

    async def get_json(self, agent_id: str) -> AgentJson:
        """The agent's answer as SQLite writes it (see ``AgentJson``); 404 if there is none."""
        rows = await self.db.fetchall(
            f"SELECT {_AGENT_JSON_COLUMNS} FROM agents a WHERE a.id = ?",
            (agent_id,),
            rows=ROWS_PER_AGENT,
        )
        if not rows:
            raise NotFound.of("Agent", agent_id)
        return AgentJson(*rows[0])

    async def _with_blocks(self, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        by_agent = await BlockStore(self.db).of_agents(ids)
        tools = await ToolStore(self.db).for_agents(ids)
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "model": r["model"],
                "embedding": r["embedding"],
                "system": r["system"],
                "agent_type": r["agent_type"],
                "tags": json.loads(r["tags"]),
                "description": r["description"],
                "compaction_settings": (
                    json.loads(r["compaction_settings"]) if r["compaction_settings"] else None
                ),
                "blocks": by_agent[r["id"]],
                "tools": tools[r["id"]],
                "created_at": r["created_at"],
                "updated_at": r["updated_at"],
            }
            for r in rows
        ]

    async def _pos(self, agent_id: str) -> int:
        row = await self.db.fetchone("SELECT pos FROM agents WHERE id = ?", (agent_id,))
        if row is None:
            raise InvalidArgument(f"The cursor {agent_id} is not an agent.")
        return row["pos"]

    async def page_json(
        self,
        *,
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
        name: str | None = None,
    ) -> list[AgentJson]:
        """A page of agents' answers (see ``AgentJson``), in one statement."""
        q = page_query(
            "a.pos",
            order,
            await self._pos(after) if after else None,
            await self._pos(before) if before else None,
        )
        where, params = list(q.where), list(q.params)
        if name is not None:
            where.append("a.name = ?")
            params.append(name)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"SELECT {_AGENT_JSON_COLUMNS} FROM agents a {clause} ORDER BY {q.order_by} LIMIT ?",
            (*params, limit),
            rows=limit * ROWS_PER_AGENT,
        )
        if q.reverse:
            rows.reverse()
        return [AgentJson(*r) for r in rows]

    async def update(self, agent_id: str, changes: dict[str, Any]) -> None:
        """Change the agent's own fields (404 if there is none); the routes answer with
        :meth:`get_json` afterwards."""
        columns = {
            k: (dumps(v) if k in ("tags", "compaction_settings") else v) for k, v in changes.items()
        }
        async with self.db.transaction() as tx:
            sets = ", ".join(f"{k} = ?" for k in columns)
            cur = await tx.execute(
                f"UPDATE agents SET {sets}{', ' if sets else ''}updated_at = ? WHERE id = ?",
                (*columns.values(), now_iso(), agent_id),
            )
            if cur.rowcount == 0:
                raise NotFound.of("Agent", agent_id)

    async def update_block(
        self, agent_id: str, label: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        await self.require(agent_id)
        blocks = BlockStore(self.db)
        return await blocks.update(await blocks.id_of(agent_id, label), changes)

    async def delete(self, agent_id: str) -> None:
        """Delete the agent, and those of its blocks that no other agent has."""
        async with self.db.transaction(bulk=True) as tx:
            async with tx.execute(
                "SELECT block_id FROM agent_blocks WHERE agent_id = ?", (agent_id,)
            ) as cur:
                block_ids = [r["block_id"] for r in await cur.fetchall()]
            # Only the agent's own conversations (its messages' lineages) list its messages:
            # they go at once, rather than each looked for in every conversation of its
            # lineage as its listing rows go (store.schema), which grows with forks squared.
            await tx.execute(
                "DELETE FROM messages WHERE pos IN (SELECT cm.message_pos FROM conversations c"
                " JOIN conversation_messages cm ON cm.conversation_pos = c.pos"
                " WHERE c.agent_id = ?)",
                (agent_id,),
            )
            cur = await tx.execute("DELETE FROM agents WHERE id = ?", (agent_id,))
            if cur.rowcount == 0:
                raise NotFound.of("Agent", agent_id)
            for block_id in block_ids:
                await tx.execute(
                    "DELETE FROM blocks WHERE id = ? AND NOT EXISTS"
                    " (SELECT 1 FROM agent_blocks WHERE block_id = ?)",
                    (block_id, block_id),
                )

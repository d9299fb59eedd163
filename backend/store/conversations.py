"""Conversations of an agent, its default conversation among them, and forks.

The default conversation (Letta's agent-direct history) is an ordinary row marked
``is_default``, made on first use; only its addressing (``default``, an agent id, the agent
routes) is special, and that is resolved by the routes.
"""

import json
import sqlite3
from collections import OrderedDict
from typing import Any, Literal

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, JsonText, json_array, now_iso
from backend.store.messages import (
    INSERT_MESSAGE,
    LIST_MESSAGE,
    NewMessage,
    context_from,
    conversation_pos,
    in_context_sql,
    message_values,
)
from backend.store.paging import Order, page_query
from shared_schema import new_id

ConversationOrderBy = Literal["created_at", "last_message_at"]


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


# ``_conversation`` as SQL, for lists (whose items carry no ids): SQLite writes their JSON.
# tests/backend/test_wire_json.py holds the two equal.
LIST_JSON = (
    "json_object('id', id, 'agent_id', agent_id, 'summary', summary, 'created_at', created_at,"
    " 'updated_at', updated_at, 'last_message_at', last_message_at,"
    " 'in_context_message_ids', json('[]'))"
)
_EMPTY_IDS_TAIL = "[]}"


def in_context_ids(pos: str, ctx: str) -> str:
    """SQL for the JSON array of a conversation's in-context ids in ``ord`` order (the
    aggregate takes the rows as the subquery reads them from the index); ``pos`` and ``ctx``
    are SQL for its ``pos`` and ``context_from``."""
    ids = in_context_sql("cm.ord, cm.message_id", pos, ctx, range_needs_message=False)
    return f"SELECT json_group_array(message_id) FROM ({ids})"


_IDS = in_context_ids(conversation_pos(":c"), context_from(":c"))
# A new fork's: every row it has is in context (its context_from is 0), in key order; about
# half the work of the general form.
_FORK_IDS = (
    "SELECT json_group_array(message_id) FROM (SELECT message_id FROM conversation_messages"
    f" WHERE conversation_pos = {conversation_pos(':c')} ORDER BY ord)"
)


def _body(conn: sqlite3.Connection, conversation_id: str, ids_sql: str = _IDS) -> JsonText:
    """The conversation's API JSON, read with ``conn`` (in the caller's transaction); the
    in-context ids are the JSON array ``ids_sql`` reads."""
    row = conn.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is None:
        raise NotFound.of("Conversation", conversation_id)
    (ids,) = conn.execute(ids_sql, {"c": conversation_id}).fetchone()
    head = json.dumps(_conversation(row, []), ensure_ascii=False)
    return JsonText(head[: -len(_EMPTY_IDS_TAIL)] + ids + "}")


# GET conversation answers of long contexts kept (by conversation, with the database's
# data_version they were read at): about 47 characters per in-context message.
LONG_BODY_CHARS = 100_000
LONG_BODIES_KEPT = 4


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._long: OrderedDict[str, tuple[int, JsonText]] = OrderedDict()

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
        return _conversation(await self.row(conversation_id), [])

    async def row(self, conversation_id: str) -> sqlite3.Row:
        row = await self.db.fetchone("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFound.of("Conversation", conversation_id)
        return row

    async def get(self, conversation_id: str) -> JsonText:
        """The conversation with the ids of its in-context messages, in order, as API JSON.

        SQLite writes the id list's JSON from an index, and a long one is kept until the
        database changes: asked again meanwhile, it costs about what its ids weigh to send.
        """
        version = self.db.data_version()  # before reading: a change after it makes it stale
        cached = self._long.get(conversation_id)
        if cached is not None and cached[0] == version:
            self._long.move_to_end(conversation_id)
            return cached[1]

        def read(conn: sqlite3.Connection) -> JsonText:
            conn.execute("BEGIN")  # the row and the ids from one snapshot
            try:
                return _body(conn, conversation_id)
            finally:
                conn.execute("COMMIT")

        body = await self.db.read(read)
        if len(body) >= LONG_BODY_CHARS:
            self._long[conversation_id] = (version, body)
            while len(self._long) > LONG_BODIES_KEPT:
                self._long.popitem(last=False)
        return body

    async def default_for(self, agent_id: str) -> str:
        """The id of the agent's default conversation, made now if it has none yet."""
        sql = "SELECT id FROM conversations WHERE agent_id = ? AND is_default = 1"
        row = await self.db.fetchone(sql, (agent_id,))
        if row is not None:
            return row["id"]
        now = now_iso()
        async with self.db.transaction() as tx:
            async with tx.execute("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) as cur:
                if await cur.fetchone() is None:
                    raise NotFound.of("Agent", agent_id)
            await tx.execute(
                "INSERT OR IGNORE INTO conversations"
                " (id, agent_id, summary, created_at, updated_at, is_default)"
                " VALUES (?, ?, NULL, ?, ?, 1)",
                (new_id("conv"), agent_id, now, now),
            )
            async with tx.execute(sql, (agent_id,)) as cur:
                made = await cur.fetchone()
        assert made is not None
        return made["id"]

    async def default_context_ids(self, agent_ids: list[str]) -> dict[str, list[str]]:
        """Each agent's ``message_ids``: the in-context ids of its default conversation.

        One statement, read on the loop: an agent list without default conversations reads no
        messages at all.
        """
        found: dict[str, list[str]] = {a: [] for a in agent_ids}
        if not agent_ids:
            return found
        marks = ",".join("?" * len(agent_ids))
        rows = await self.db.fetchall(
            f"SELECT agent_id, ({in_context_ids('c.pos', 'c.context_from')}) AS ids"
            " FROM conversations c"
            f" WHERE is_default = 1 AND agent_id IN ({marks})",
            tuple(agent_ids),
            rows=len(agent_ids),
        )
        for r in rows:
            found[r["agent_id"]] = json.loads(r["ids"])
        return found

    async def page(
        self,
        agent_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
        order_by: ConversationOrderBy = "created_at",
    ) -> JsonText:
        """An agent's conversations, its default one excepted (Letta lists only the others)."""
        if await self.db.fetchone("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) is None:
            raise NotFound.of("Agent", agent_id)
        if order_by == "last_message_at":
            return await self._page_by_activity(agent_id, limit, order, after, before)
        q = page_query(
            "pos",
            order,
            await self._pos(agent_id, after) if after else None,
            await self._pos(agent_id, before) if before else None,
        )
        where = " AND ".join(["agent_id = ?", "is_default = 0", *q.where])
        rows = await self.db.fetchall(
            f"SELECT {LIST_JSON} FROM conversations WHERE {where} ORDER BY {q.order_by} LIMIT ?",
            (agent_id, *q.params, limit),
            rows=limit,
        )
        if q.reverse:
            rows.reverse()
        return json_array([r[0] for r in rows])

    async def _page_by_activity(
        self, agent_id: str, limit: int, order: Order, after: str | None, before: str | None
    ) -> JsonText:
        """Ordered by the last message (never-used ones as oldest), ties broken by creation."""
        key = "(COALESCE(last_message_at, ''), pos)"
        cursors = []
        for cursor in (after, before):
            if cursor is None:
                cursors.append(None)
                continue
            row = await self.db.fetchone(
                "SELECT COALESCE(last_message_at, '') AS t, pos FROM conversations"
                " WHERE id = ? AND agent_id = ?",
                (cursor, agent_id),
            )
            if row is None:
                raise InvalidArgument(f"The cursor {cursor} is not a conversation of this agent.")
            cursors.append((row["t"], row["pos"]))
        ascending = order == "asc"
        where, params = ["agent_id = ?", "is_default = 0"], [agent_id]
        if cursors[0] is not None:
            where.append(f"{key} {'>' if ascending else '<'} (?, ?)")
            params += cursors[0]
        if cursors[1] is not None:
            where.append(f"{key} {'<' if ascending else '>'} (?, ?)")
            params += cursors[1]
        backwards = cursors[1] is not None and cursors[0] is None
        direction = "ASC" if ascending != backwards else "DESC"
        rows = await self.db.fetchall(
            f"SELECT {LIST_JSON} FROM conversations WHERE {' AND '.join(where)} ORDER BY"
            f" COALESCE(last_message_at, '') {direction}, pos {direction} LIMIT ?",
            (*params, limit),
            rows=limit,
        )
        if backwards:
            rows.reverse()
        return json_array([r[0] for r in rows])

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

    async def fork(
        self, conversation_id: str, system_text: str, at_message_id: str | None = None
    ) -> JsonText:
        """A new conversation of the same agent whose context is ``system_text`` followed by the
        source's in-context messages (up to ``at_message_id``), under the same message ids.

        The fork lists the source's messages (one statement adds its rows to
        ``conversation_messages``, at the source's ords); nothing of theirs is copied or indexed
        again: the fork joins its source's lineage, through which they find it
        (``store.schema``). The whole transaction, and the answer's JSON, take one hand-off to a
        thread.
        """
        fork_id = new_id("conv")
        now = now_iso()

        def write(conn: sqlite3.Connection) -> JsonText:
            source = conn.execute(
                "SELECT c.pos, c.agent_id, c.context_from, c.lineage, cm.ord AS first_ord,"
                " m.message_type AS first_type FROM conversations c"
                " LEFT JOIN conversation_messages cm ON cm.conversation_pos = c.pos"
                " AND cm.ord = (SELECT MIN(ord) FROM conversation_messages"
                " WHERE conversation_pos = c.pos)"
                " LEFT JOIN messages m ON m.pos = cm.message_pos WHERE c.id = ?",
                (conversation_id,),
            ).fetchone()
            if source is None:
                raise NotFound.of("Conversation", conversation_id)
            up_to = 1 << 62
            if at_message_id is not None:
                at = conn.execute(
                    "SELECT cm.ord, cm.in_context, m.message_type FROM messages m"
                    " JOIN conversation_messages cm ON cm.conversation_pos = ?"
                    " AND cm.ord = m.origin_ord AND cm.message_pos = m.pos WHERE m.id = ?",
                    (source["pos"], at_message_id),
                ).fetchone()
                ranged = at is not None and (
                    at["ord"] >= source["context_from"] or at["message_type"] == "system_message"
                )
                if at is None or not (at["in_context"] and ranged):
                    where = "in the context of" if at is not None else "a message of"
                    raise InvalidArgument(
                        f"Cannot fork at {at_message_id}: it is not {where} conversation "
                        f"{conversation_id}."
                    )
                up_to = at["ord"]
            empty = source["first_ord"] is None
            conn.execute(
                "INSERT INTO conversations (id, agent_id, summary, created_at, updated_at,"
                " last_message_at, lineage) VALUES (?, ?, NULL, ?, ?, ?, ?)",
                (fork_id, source["agent_id"], now, now, None if empty else now, source["lineage"]),
            )
            conn.execute(  # what a fork copied is no longer the source's alone (store.schema)
                "UPDATE conversations SET forked_up_to = max(coalesce(forked_up_to, -1),"
                " (SELECT coalesce(max(ord), -1) FROM conversation_messages"
                " WHERE conversation_pos = ?1 AND ord <= ?2)) WHERE pos = ?1",
                (source["pos"], up_to),
            )
            if empty:
                return _body(conn, fork_id)
            # Stored ords start at ORD_STRIDE, so 0 sorts the fork's system message first.
            system = NewMessage("system_message", system_text)
            conn.execute(INSERT_MESSAGE, message_values(fork_id, system, now, 0))
            conn.execute(LIST_MESSAGE, (fork_id, 0, 1, system.id))
            is_system = source["first_type"] == "system_message"
            after = max(source["context_from"] - 1, source["first_ord"] if is_system else -1)
            conn.execute(
                "INSERT INTO conversation_messages (conversation_pos, ord, message_id,"
                f" message_pos, in_context) SELECT {conversation_pos('?')}, ord, message_id,"
                " message_pos, 1 FROM conversation_messages WHERE conversation_pos = ?"
                " AND ord > ? AND ord <= ? AND in_context = 1",
                (fork_id, source["pos"], after, up_to),
            )
            return _body(conn, fork_id, _FORK_IDS)

        return await self.db.write(write)

    async def update_summary(self, conversation_id: str, summary: str) -> JsonText:
        async with self.db.transaction() as tx:
            cur = await tx.execute(
                "UPDATE conversations SET summary = ?, updated_at = ? WHERE id = ?",
                (summary, now_iso(), conversation_id),
            )
            if cur.rowcount == 0:
                raise NotFound.of("Conversation", conversation_id)
        return await self.get(conversation_id)

    async def ids_of(self, agent_id: str) -> list[str]:
        """Every conversation of the agent, its default one included."""
        rows = await self.db.fetchall(
            "SELECT id FROM conversations WHERE agent_id = ?", (agent_id,)
        )
        return [r["id"] for r in rows]

    async def delete(self, conversation_id: str) -> None:
        async with self.db.transaction(bulk=True) as tx:
            # Its rows go first, while the conversation still says which of its messages no
            # fork ever copied: those go without a look through its lineage (store.schema).
            await tx.execute(
                "DELETE FROM conversation_messages"
                f" WHERE conversation_pos = {conversation_pos('?')}",
                (conversation_id,),
            )
            cur = await tx.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise NotFound.of("Conversation", conversation_id)

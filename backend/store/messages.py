"""Message history: stored in order, listed by cursor, flagged in or out of the model's context."""

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, JsonText, Tx, dumps, json_array, now_iso
from backend.store.paging import Order, page_query
from backend.store.schema import ORD_STRIDE
from shared_schema import new_id
from shared_schema.messages import ROLE_BY_TYPE


@dataclass
class NewMessage:
    """A message about to be stored. ``content`` holds the type's text (reasoning, tool return…)."""

    message_type: str
    content: str = ""
    extra: dict[str, Any] | None = None
    run_id: str | None = None
    otid: str | None = None
    is_err: bool | None = None
    in_context: bool = True
    id: str = field(default_factory=lambda: new_id("message"))


def to_wire(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """The API shape of a stored message (API.md section 2)."""
    kind = row["message_type"]
    extra = json.loads(row["extra"]) if row["extra"] else {}
    message: dict[str, Any] = {
        "id": row["id"],
        "date": row["created_at"],
        "message_type": kind,
        "role": row["role"],
        "run_id": row["run_id"],
        "otid": row["otid"],
        "seq_id": None,
        "in_context": bool(row["in_context"]),
        "is_err": None if row["is_err"] is None else bool(row["is_err"]),
    }
    text = row["content"]
    if kind == "reasoning_message":
        message["reasoning"] = text
    elif kind in ("tool_call_message", "approval_request_message"):
        message["tool_call"] = extra
        message["tool_calls"] = [extra]
    elif kind == "approval_response_message":
        message.update(extra)
    elif kind == "tool_return_message":
        status = extra.get("status", "success")
        returned = {
            "type": "tool",
            "tool_call_id": extra.get("tool_call_id"),
            "status": status,
            "tool_return": text,
            "stdout": extra.get("stdout"),
            "stderr": extra.get("stderr"),
        }
        message.update(
            tool_return=text,
            status=status,
            tool_call_id=returned["tool_call_id"],
            name=extra.get("name"),
            stdout=returned["stdout"],
            stderr=returned["stderr"],
            tool_returns=[returned],
        )
    elif kind == "summary_message":
        message["summary"] = text
        message["content"] = text
        message.update(extra)
    else:
        message["content"] = text
    return message


# The in-context messages through their own (partial) index. Without statistics SQLite prefers
# the index of the whole history, and then reads past every compacted message to the context.
IN_CONTEXT = "messages INDEXED BY messages_context_ids"


def _field(name: str, sql: str) -> str:
    """SQL for ``,"name":<sql>``, where ``sql`` is JSON text."""
    return f"""',"{name}":' || {sql}"""


def _extra(key: str, default: str = "'null'") -> str:
    """The JSON text of ``extra[key]``, or of ``default`` when it is missing."""
    return f"coalesce(extra -> '$.{key}', {default})"


# ``extra``'s members after the message's own, as Python's ``dict.update`` would add them.
_MERGED_EXTRA = (
    "CASE WHEN extra IS NULL OR extra = '{}' THEN ''"
    " ELSE ',' || substr(extra, 2, length(extra) - 2) END"
)
_STATUS = _extra("status", """'"success"'""")
_TOOL_RETURN_FIELDS = (
    _field("tool_call_id", _extra("tool_call_id")),
    _field("status", _STATUS),
    _field("tool_return", "json_quote(content)"),
    _field("stdout", _extra("stdout")),
    _field("stderr", _extra("stderr")),
)
# ``to_wire`` as one SQL expression: SQLite writes a page's JSON as it reads the rows, which
# costs less than building dicts and encoding them in Python. tests/backend/test_wire_json.py
# holds the two equal for every message type: a change to one needs the same in the other.
WIRE_JSON = " || ".join(
    [
        """'{"id":' || json_quote(id)""",
        _field("date", "json_quote(created_at)"),
        _field("message_type", "json_quote(message_type)"),
        _field("role", "json_quote(role)"),
        _field("run_id", "json_quote(run_id)"),
        _field("otid", "json_quote(otid)"),
        _field("seq_id", "'null'"),
        _field("in_context", "CASE WHEN in_context THEN 'true' ELSE 'false' END"),
        _field("is_err", "CASE is_err WHEN 1 THEN 'true' WHEN 0 THEN 'false' ELSE 'null' END"),
        f"""CASE
        WHEN message_type = 'reasoning_message' THEN {_field("reasoning", "json_quote(content)")}
        WHEN message_type IN ('tool_call_message', 'approval_request_message') THEN
            {_field("tool_call", "coalesce(extra, '{}')")}
            || {_field("tool_calls", "'[' || coalesce(extra, '{}') || ']'")}
        WHEN message_type = 'approval_response_message' THEN {_MERGED_EXTRA}
        WHEN message_type = 'tool_return_message' THEN
            {_field("tool_return", "json_quote(content)")}
            || {_field("status", _STATUS)}
            || {_field("tool_call_id", _extra("tool_call_id"))}
            || {_field("name", _extra("name"))}
            || {_field("stdout", _extra("stdout"))}
            || {_field("stderr", _extra("stderr"))}
            || ',"tool_returns":[{{"type":"tool"' || {" || ".join(_TOOL_RETURN_FIELDS)} || '}}]'
        WHEN message_type = 'summary_message' THEN
            {_field("summary", "json_quote(content)")}
            || {_field("content", "json_quote(content)")}
            || {_MERGED_EXTRA}
        ELSE {_field("content", "json_quote(content)")}
    END""",
        "'}'",
    ]
)


async def insert_rows(tx: Tx, conversation_id: str, rows: list[tuple[int, NewMessage]]) -> None:
    """Insert messages at the given ``ord`` positions and mark the conversation as active."""
    now = now_iso()
    await tx.executemany(
        "INSERT INTO messages (id, conversation_id, ord, message_type, role, content, extra,"
        " run_id, otid, in_context, is_err, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                m.id,
                conversation_id,
                ord_,
                m.message_type,
                ROLE_BY_TYPE[m.message_type],
                m.content,
                dumps(m.extra) if m.extra else None,
                m.run_id,
                m.otid,
                int(m.in_context),
                None if m.is_err is None else int(m.is_err),
                now,
            )
            for ord_, m in rows
        ],
    )
    await tx.execute(
        "UPDATE conversations SET last_message_at = ?, updated_at = ? WHERE id = ?",
        (now, now, conversation_id),
    )


def _otid_query(conversation_id: str, otids: list[str]) -> tuple[str, tuple[str, ...]]:
    marks = ",".join("?" * len(otids))
    return (
        "SELECT m.otid, m.message_type, m.content, m.run_id FROM messages m"
        " JOIN runs r ON r.id = m.run_id AND r.conversation_id = m.conversation_id"
        f" WHERE m.conversation_id = ? AND m.otid IN ({marks})",
        (conversation_id, *otids),
    )


async def context_changed(tx: Tx, conversation_id: str) -> None:
    """Record a change of the in-context messages other than an append (``context_rev``)."""
    await tx.execute(
        "UPDATE conversations SET context_rev = context_rev + 1 WHERE id = ?", (conversation_id,)
    )


class MessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def append(tx: Tx, conversation_id: str, messages: list[NewMessage]) -> list[str]:
        """Store messages at the end of the history, in context; returns their ids."""
        async with tx.execute(
            "SELECT MAX(ord) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ) as cur:
            row = await cur.fetchone()
        last = row[0] if row and row[0] is not None else 0
        base = (last // ORD_STRIDE + 1) * ORD_STRIDE
        await insert_rows(
            tx, conversation_id, [(base + i * ORD_STRIDE, m) for i, m in enumerate(messages)]
        )
        return [m.id for m in messages]

    async def _ord(self, conversation_id: str, message_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT ord FROM messages WHERE id = ? AND conversation_id = ?",
            (message_id, conversation_id),
        )
        if row is None:
            raise InvalidArgument(
                f"The cursor {message_id} is not a message of conversation {conversation_id}."
            )
        return row["ord"]

    async def page(
        self,
        conversation_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
        include_compacted: bool = False,
        message_types: list[str] | None = None,
    ) -> JsonText:
        """A page of the history as the API's JSON array (API.md 5.1)."""
        if (
            await self.db.fetchone("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
            is None
        ):
            raise NotFound.of("Conversation", conversation_id)
        q = page_query(
            "ord",
            order,
            await self._ord(conversation_id, after) if after else None,
            await self._ord(conversation_id, before) if before else None,
        )
        where = ["conversation_id = ?", *q.where]
        params: list[Any] = [conversation_id, *q.params]
        if not include_compacted:
            where.append("in_context = 1")
        if message_types:
            where.append(f"message_type IN ({','.join('?' * len(message_types))})")
            params += message_types
        table = "messages" if include_compacted else IN_CONTEXT
        rows = await self.db.fetchall(
            f"SELECT {WIRE_JSON} FROM {table} WHERE {' AND '.join(where)}"
            f" ORDER BY {q.order_by} LIMIT ?",
            (*params, limit),
            rows=limit,
        )
        if q.reverse:
            rows.reverse()
        return json_array([r[0] for r in rows])

    @staticmethod
    async def sent_with_otids(tx: Tx, conversation_id: str, otids: list[str]) -> list[sqlite3.Row]:
        """The messages this conversation's own runs stored under these otids (a fork's copies
        belong to the source's runs and do not count), inside a transaction."""
        async with tx.execute(*_otid_query(conversation_id, otids)) as cur:
            return list(await cur.fetchall())

    async def find_otids(self, conversation_id: str, otids: list[str]) -> list[sqlite3.Row]:
        """The same outside a transaction: a few rows by index, read on the loop."""
        return await self.db.fetchall(*_otid_query(conversation_id, otids), rows=len(otids))

    async def of_run(
        self,
        conversation_id: str,
        run_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        """The messages a run stored in its conversation, paged like a conversation's (a run
        stores few, so they are read at once and the page is cut here)."""
        rows = await self.db.fetchall(
            "SELECT * FROM messages WHERE run_id = ? AND conversation_id = ? ORDER BY ord",
            (run_id, conversation_id),
        )
        if order == "desc":
            rows.reverse()
        ids = [r["id"] for r in rows]
        for cursor in (after, before):
            if cursor is not None and cursor not in ids:
                raise InvalidArgument(f"The cursor {cursor} is not a message of run {run_id}.")
        start = ids.index(after) + 1 if after else 0
        end = ids.index(before) if before else len(rows)
        page = rows[start:end]
        page = page[-limit:] if before and not after else page[:limit]
        return [to_wire(r) for r in page]

    async def get(self, message_id: str) -> dict[str, Any]:
        """A message by id; a fork lists it too under the same id: take the row carrying it."""
        row = await self.db.fetchone(
            "SELECT * FROM messages WHERE id = ? AND fts = 1 LIMIT 1", (message_id,)
        )
        if row is None:
            raise NotFound.of("Message", message_id)
        return to_wire(row)

    async def in_context_rows(self, conversation_id: str) -> list[sqlite3.Row]:
        """The in-context messages with every column, oldest first (for the context overview)."""
        return await self.db.fetchall(
            f"SELECT * FROM {IN_CONTEXT} WHERE conversation_id = ? AND in_context = 1 ORDER BY ord",
            (conversation_id,),
        )

    async def count(self, conversation_id: str) -> int:
        """How many messages the conversation's whole history holds."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
        )
        return row[0] if row else 0

    async def in_context(self, conversation_id: str) -> list[sqlite3.Row]:
        """The messages the model sees on the next turn, oldest first (the columns it needs)."""
        return await self.db.fetchall(
            f"SELECT ord, message_type, content, extra FROM {IN_CONTEXT}"
            " WHERE conversation_id = ? AND in_context = 1 ORDER BY ord",
            (conversation_id,),
        )

    async def context_after(
        self, conversation_id: str, after_ord: int | None, *, limit: int | None = None
    ) -> tuple[int, list[sqlite3.Row]]:
        """The conversation's ``context_rev`` and its in-context messages after ``after_ord``
        (all of them for ``None``), oldest first, from one snapshot: a kept prompt is extended
        with them while the revision is the one it was built at. With ``limit`` (a few rows
        by index) it reads on the loop, else on a reader thread."""

        def read(conn: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    "SELECT context_rev FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                if row is None:
                    raise NotFound.of("Conversation", conversation_id)
                rows = conn.execute(
                    f"SELECT ord, message_type, content, extra FROM {IN_CONTEXT}"
                    " WHERE conversation_id = ? AND in_context = 1 AND ord > ? ORDER BY ord"
                    f"{' LIMIT ?' if limit is not None else ''}",
                    (conversation_id, -1 if after_ord is None else after_ord)
                    + (() if limit is None else (limit,)),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            return row[0], rows

        return await self.db.read(read, rows=limit)

    async def search_agent(
        self,
        agent_id: str,
        *,
        query: str | None,
        kinds: list[str],
        limit: int,
        start: str | None = None,
        end: str | None = None,
    ) -> list[sqlite3.Row]:
        """An agent's messages of the given kinds whose text contains ``query``, newest first.

        A plain substring match: enough for an agent looking back at what was said; the API's
        ranked full-text search is a separate concern.
        """
        where = ["c.agent_id = ?", f"m.message_type IN ({','.join('?' * len(kinds))})"]
        params: list[Any] = [agent_id, *kinds]
        if query:
            where.append("m.content LIKE ? ESCAPE '\\'")
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        if start:
            where.append("m.created_at >= ?")
            params.append(start)
        if end:
            where.append("m.created_at <= ?")
            params.append(end)
        return await self.db.fetchall(
            "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE {' AND '.join(where)} ORDER BY m.created_at DESC, m.ord DESC LIMIT ?",
            (*params, limit),
        )

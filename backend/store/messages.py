"""Message history: stored once, listed by conversations in order, paged by cursor; the model's
context is a range of each conversation's order (see ``store.schema``)."""

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from backend.errors import InvalidArgument, NotFound
from backend.store.db import Database, JsonText, Tx, dumps, now_iso
from backend.store.paging import Order
from backend.store.schema import ORD_STRIDE
from shared_schema import new_id
from shared_schema.messages import ROLE_BY_TYPE

T = TypeVar("T")


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
    """The API shape of a stored message (API.md section 2): its stored JSON (``wire``, see
    ``store.schema`` migration 13) with the listing's ``in_context`` flag."""
    message = json.loads(row["wire"])
    message["in_context"] = bool(row["in_context"])
    return message


# A conversation's rows (``cm``) with the messages they list (``m``).
LISTED = "conversation_messages cm JOIN messages m ON m.pos = cm.message_pos"
# Messages (``m``) with the conversations (``c``) that list them, and their rows (``cm``): the
# conversations of the message's lineage that list it at its origin_ord (``store.schema``).
LISTERS = (
    "messages m JOIN conversations c ON c.lineage = m.lineage"
    " JOIN conversation_messages cm ON cm.conversation_pos = c.pos AND cm.ord = m.origin_ord"
    " AND cm.message_pos = m.pos"
)


def conversation_pos(conversation: str) -> str:
    """SQL for the ``pos`` (the key of its listing rows) of the conversation whose id is the
    SQL ``conversation``."""
    return f"(SELECT pos FROM conversations WHERE id = {conversation})"


def context_from(conversation: str) -> str:
    """SQL for the ``context_from`` of the conversation whose id is the SQL ``conversation``."""
    return f"(SELECT context_from FROM conversations WHERE id = {conversation})"


def in_context_rule(ctx: str) -> str:
    """SQL: whether the row ``cm`` of message ``m`` is in context, ``ctx`` being SQL for its
    conversation's ``context_from`` (``store.schema``)."""
    return f"(cm.in_context = 1 AND (cm.ord >= {ctx} OR m.message_type = 'system_message'))"


def columns(ctx: str) -> str:
    """A message's columns, its JSON and its listing's flag (``to_wire`` reads the last two),
    from ``cm`` and ``m``."""
    return (
        "m.pos, m.id, cm.ord, m.message_type, m.role, m.content, m.extra, m.run_id, m.otid,"
        f" m.is_err, m.created_at, m.wire, {in_context_rule(ctx)} AS in_context"
    )


def system_sql(select: str, pos: str, ctx: str, where: str = "") -> str:
    """SQL selecting ``select`` of a conversation's system message when it is in context but
    before ``context_from`` (after a compaction): its first row. ``pos`` and ``ctx`` are SQL for
    the conversation's ``pos`` and ``context_from``; ``where`` adds terms (`` AND …``)."""
    first = f"(SELECT MIN(ord) FROM conversation_messages WHERE conversation_pos = {pos})"
    return (
        f"SELECT {select} FROM {LISTED} WHERE cm.conversation_pos = {pos}"
        f" AND cm.ord = {first} AND cm.ord < {ctx} AND cm.in_context = 1"
        f" AND m.message_type = 'system_message'{where}"
    )


def in_context_sql(
    select: str, pos: str, ctx: str, *, after: str | None = None, range_needs_message: bool = True
) -> str:
    """SQL selecting ``select`` (which names ``cm.ord``) of a conversation's in-context
    messages in ``ord`` order (those after the ord ``after``, SQL, if given): its system message
    when before the range, then the rows from ``context_from`` on; both read in index order and
    merged. Without ``range_needs_message`` the range is read from ``cm`` alone (ids only)."""
    ranged = LISTED if range_needs_message else "conversation_messages cm"
    start = f"cm.ord >= {ctx}" if after is None else f"cm.ord > MAX({ctx} - 1, {after})"
    system = system_sql(select, pos, ctx, "" if after is None else f" AND cm.ord > {after}")
    return (
        f"{system} UNION ALL SELECT {select} FROM {ranged}"
        f" WHERE cm.conversation_pos = {pos} AND {start} AND cm.in_context = 1 ORDER BY ord"
    )


def listed_json(*, messages: bool) -> str:
    """A conversation's rows (``cm``) with their messages' stored JSON (``j.json``, written
    as ``m.wire`` says: ``store.schema`` migration 13), and the messages (``m``) too if the
    SQL reads them."""
    joined = "conversation_messages cm JOIN message_json j ON j.pos = cm.message_pos"
    return f"{joined} JOIN messages m ON m.pos = cm.message_pos" if messages else joined


# Where a message's stored JSON says ``"in_context":true`` (the first such key: every value
# before it is a JSON string, whose quotes are escaped).
_FLAG = """instr(j.json, '"in_context":') + 13"""


def wire_json(in_context: str) -> str:
    """SQL for a message's JSON as a listing shows it, ``in_context`` being SQL for its flag:
    the stored JSON, with ``false`` spliced in for a message out of context."""
    return (
        f"CASE WHEN {in_context} THEN j.json"
        f" ELSE substr(j.json, 1, {_FLAG} - 1) || 'false' || substr(j.json, {_FLAG} + 4) END"
    )


# A message's lineage is its conversation's (``store.schema``, migration 12).
INSERT_MESSAGE = (
    "INSERT INTO messages (id, origin_id, message_type, role, content, extra, run_id, otid,"
    " is_err, created_at, origin_ord, lineage) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
    " ?11, (SELECT lineage FROM conversations WHERE id = ?2))"
)
LIST_MESSAGE = (
    "INSERT INTO conversation_messages (conversation_pos, ord, message_id, message_pos,"
    f" in_context) SELECT {conversation_pos('?')}, ?, id, pos, ? FROM messages WHERE id = ?"
)


def message_values(conversation_id: str, m: NewMessage, now: str, ord_: int) -> tuple[Any, ...]:
    """The parameters of ``INSERT_MESSAGE`` for ``m``, first sent in ``conversation_id`` and
    listed there at ``ord_``."""
    return (
        m.id,
        conversation_id,
        m.message_type,
        ROLE_BY_TYPE[m.message_type],
        m.content,
        dumps(m.extra) if m.extra else None,
        m.run_id,
        m.otid,
        None if m.is_err is None else int(m.is_err),
        now,
        ord_,
    )


async def insert_rows(
    tx: Tx, conversation_id: str, rows: list[tuple[int, NewMessage]], *, sent: bool = True
) -> None:
    """Store messages and list them in the conversation at the given ``ord`` positions; mark
    the conversation as updated, and as active unless the messages were not ``sent`` (a
    compaction's summary)."""
    now = now_iso()
    await tx.executemany(
        INSERT_MESSAGE, [message_values(conversation_id, m, now, o) for o, m in rows]
    )
    await tx.executemany(
        LIST_MESSAGE, [(conversation_id, ord_, int(m.in_context), m.id) for ord_, m in rows]
    )
    if sent:
        await tx.execute(
            "UPDATE conversations SET last_message_at = ?, updated_at = ? WHERE id = ?",
            (now, now, conversation_id),
        )
    else:
        await tx.execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
        )


def _otid_query(conversation_id: str, otids: list[str]) -> tuple[str, tuple[str, ...]]:
    return _otid_sql(len(otids)), (conversation_id, *otids)


@functools.lru_cache(maxsize=32)  # a count comes from the request: keep a few
def _otid_sql(count: int) -> str:
    """The otid lookup for ``count`` otids: built once per count, as a retry is a hot path."""
    return (
        "SELECT m.otid, m.message_type, m.content, m.run_id, r.* FROM messages m"
        " JOIN runs r ON r.id = m.run_id AND r.conversation_id = m.origin_id"
        f" WHERE m.origin_id = ? AND m.otid IN ({','.join('?' * count)}) AND EXISTS (SELECT 1"
        f" FROM conversation_messages cm WHERE cm.conversation_pos = "
        f"{conversation_pos('m.origin_id')} AND cm.ord = m.origin_ord AND cm.message_pos = m.pos)"
    )


async def context_changed(tx: Tx, conversation_id: str) -> None:
    """Record a change of the in-context messages other than an append (``context_rev``)."""
    await tx.execute(
        "UPDATE conversations SET context_rev = context_rev + 1 WHERE id = ?", (conversation_id,)
    )


# SQL for a page's conversation (``:c``), and for its cursors' positions in it (NULL for a
# message it does not list).
_POS = conversation_pos(":c")
_CTX = context_from(":c")
_ORD_OF = (
    f"(SELECT cm.ord FROM messages m JOIN conversation_messages cm ON cm.conversation_pos = {_POS}"
    " AND cm.ord = m.origin_ord AND cm.message_pos = m.pos WHERE m.id = :{})"
)
_WIRE = wire_json(in_context_rule(_CTX))
# A run's messages (``:r``) where its conversation (``:c``) lists them: found by the run, then
# each at its origin_ord (``store.schema``), not by reading the whole conversation.
RUN_MESSAGES = (
    f"SELECT {columns(_CTX)} FROM messages m CROSS JOIN conversation_messages cm"
    f" ON cm.conversation_pos = {_POS} AND cm.ord = m.origin_ord AND cm.message_pos = m.pos"
    " WHERE m.run_id = :r ORDER BY cm.ord"
)


@functools.lru_cache(maxsize=128)
def _page_sql(
    ascending: bool, after: bool, before: bool, include_compacted: bool, types: int
) -> tuple[str, str]:
    """The statements of a page of this shape (``MessageStore.page``; ``types`` is how many
    message types it is limited to): the page, as its JSON array and its length, and the one
    that tells an empty page's causes apart (conversation, cursors)."""
    after_ord = _ORD_OF.format("after") if after else None
    before_ord = _ORD_OF.format("before") if before else None
    # The range of ``ord`` as exclusive bounds; the lower ones are merged into one, so that
    # the index is read from the right place.
    lower = [] if include_compacted else [f"{_CTX} - 1"]
    upper = []
    for cursor, below in ((after_ord, not ascending), (before_ord, ascending)):
        if cursor is not None:
            (upper if below else lower).append(cursor)
    where = ""
    if types:
        where = f" AND m.message_type IN ({','.join(f':t{i}' for i in range(types))})"
    ranged = f" AND cm.ord > {_greatest(lower)}" if lower else ""
    ranged += "".join(f" AND cm.ord < {u}" for u in upper)
    # With only ``before``, the nearest messages are at the far end: read backwards.
    backwards = before and not after
    scan = "ASC" if ascending != backwards else "DESC"
    if include_compacted:  # the whole history: each message's flag is its listing's
        rows = (
            f"SELECT {_WIRE} AS json, cm.ord AS ord FROM {listed_json(messages=True)}"
            f" WHERE cm.conversation_pos = {_POS}{ranged}{where} ORDER BY cm.ord {scan}"
        )
    else:
        # The context, every message of it in context. A compacted conversation's system
        # message is in context, before the range: both are read in index order and merged.
        bounds = "".join(f" AND cm.ord > {b}" for b in lower[1:])
        bounds += "".join(f" AND cm.ord < {u}" for u in upper)
        stored = "(SELECT json FROM message_json WHERE pos = m.pos)"
        system = system_sql(f"{stored} AS json, cm.ord AS ord", _POS, _CTX, bounds + where)
        rows = (
            f"{system} UNION ALL SELECT j.json AS json, cm.ord AS ord"
            f" FROM {listed_json(messages=bool(types))} WHERE cm.conversation_pos = {_POS}"
            f"{ranged} AND cm.in_context = 1{where} ORDER BY ord {scan}"
        )
    rows += " LIMIT :limit"
    if backwards:
        rows = f"SELECT json, ord FROM ({rows}) ORDER BY ord {'ASC' if ascending else 'DESC'}"
    # The aggregate takes the rows in the order the subquery gives them.
    page = f"SELECT '[' || coalesce(group_concat(json, ','), '') || ']', count(*) FROM ({rows})"
    head = f"SELECT {_CTX} AS ctx, {after_ord or 0} AS after_ord, {before_ord or 0} AS before_ord"
    return page, head


class MessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def append(tx: Tx, conversation_id: str, messages: list[NewMessage]) -> list[str]:
        """Store messages at the end of the history, in context; returns their ids."""
        async with tx.execute(
            "SELECT MAX(ord) FROM conversation_messages"
            f" WHERE conversation_pos = {conversation_pos('?')}",
            (conversation_id,),
        ) as cur:
            row = await cur.fetchone()
        last = row[0] if row and row[0] is not None else 0
        base = (last // ORD_STRIDE + 1) * ORD_STRIDE
        await insert_rows(
            tx, conversation_id, [(base + i * ORD_STRIDE, m) for i, m in enumerate(messages)]
        )
        return [m.id for m in messages]

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
        """A page of the history as the API's JSON array (API.md 5.1).

        One statement reads the page; only an empty page takes a second, to tell an unknown
        conversation (404) or cursor (400) from the end of the history.
        """
        params: dict[str, Any] = {"c": conversation_id, "limit": limit}
        if after is not None:
            params["after"] = after
        if before is not None:
            params["before"] = before
        for i, kind in enumerate(message_types or ()):
            params[f"t{i}"] = kind
        page_sql, head_sql = _page_sql(
            order == "asc",
            after is not None,
            before is not None,
            include_compacted,
            len(message_types or ()),
        )

        def read(conn: sqlite3.Connection) -> tuple[str, int]:
            return conn.execute(page_sql, params).fetchone()

        body, count = await self.db.read(read, rows=limit)
        if not count:
            head = await self.db.fetchone(head_sql, params)
            assert head is not None
            if head["ctx"] is None:
                raise NotFound.of("Conversation", conversation_id)
            for cursor, key in ((after, "after_ord"), (before, "before_ord")):
                if head[key] is None:
                    raise InvalidArgument(
                        f"The cursor {cursor} is not a message of conversation {conversation_id}."
                    )
        return JsonText(body)

    @staticmethod
    async def sent_with_otids(tx: Tx, conversation_id: str, otids: list[str]) -> list[sqlite3.Row]:
        """The messages this conversation's own runs stored under these otids (a fork's
        listing of its source's messages does not count), inside a transaction."""
        async with tx.execute(*_otid_query(conversation_id, otids)) as cur:
            return list(await cur.fetchall())

    async def find_otids(self, conversation_id: str, otids: list[str]) -> list[sqlite3.Row]:
        """The same outside a transaction: a few rows by index, read on the loop. Each row
        carries its run's row too, so that a retry replays the run with no further lookup."""
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
        messages = await self.by_run(conversation_id, run_id)
        if order == "desc":
            messages.reverse()
        ids = [m["id"] for m in messages]
        for cursor in (after, before):
            if cursor is not None and cursor not in ids:
                raise InvalidArgument(f"The cursor {cursor} is not a message of run {run_id}.")
        start = ids.index(after) + 1 if after else 0
        end = ids.index(before) if before else len(messages)
        page = messages[start:end]
        return page[-limit:] if before and not after else page[:limit]

    async def by_run(self, conversation_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every message a run stored in its conversation, oldest first, as API JSON."""
        rows = await self.db.fetchall(RUN_MESSAGES, {"r": run_id, "c": conversation_id})
        return [to_wire(r) for r in rows]

    async def get(self, message_id: str) -> dict[str, Any]:
        """A message by id, as the conversation it was sent in lists it while it does, else as
        the oldest of the forks that list it."""
        row = await self.db.fetchone(
            f"SELECT {columns('c.context_from')} FROM {LISTERS} WHERE m.id = ?"
            " ORDER BY c.id <> m.origin_id, c.pos LIMIT 1",
            (message_id,),
        )
        if row is None:
            raise NotFound.of("Message", message_id)
        return to_wire(row)

    async def in_context_rows(self, conversation_id: str) -> list[sqlite3.Row]:
        """The in-context messages with every column, oldest first (for the context overview)."""
        return await self.db.fetchall(
            in_context_sql(columns(_CTX), _POS, _CTX),
            {"c": conversation_id},
        )

    async def in_context_letters(self, conversation_id: str, letter: str) -> str:
        """The in-context messages, oldest first, as one string of ``letter`` (SQL naming a
        message ``m`` by one character): what compaction chooses by, read without making a
        Python object per message (on a reader thread)."""
        sql = (
            "SELECT coalesce(group_concat(letter, ''), '') FROM"
            f" ({in_context_sql(f'cm.ord, {letter} AS letter', _POS, _CTX)})"
        )
        return await self.db.read(
            lambda conn: conn.execute(sql, {"c": conversation_id}).fetchone()[0]
        )

    async def count(self, conversation_id: str) -> int:
        """How many messages the conversation's whole history holds."""
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM conversation_messages WHERE conversation_pos = {_POS}",
            {"c": conversation_id},
        )
        return row[0] if row else 0

    async def in_context(self, conversation_id: str) -> list[sqlite3.Row]:
        """The messages the model sees on the next turn, oldest first (the columns it needs)."""
        return await self.db.fetchall(
            in_context_sql("cm.ord, m.message_type, m.content, m.extra", _POS, _CTX),
            {"c": conversation_id},
        )

    async def context_after(
        self, conversation_id: str, after_ord: int | None, *, limit: int | None = None
    ) -> tuple[int, list[sqlite3.Row]]:
        """The conversation's ``context_rev`` and its in-context messages after ``after_ord``
        (all of them for ``None``), oldest first, from one snapshot: a kept prompt is extended
        with them while the revision is the one it was built at. With ``limit`` (a few rows
        by index) it reads on the loop, else on a reader thread."""
        return await self.read_context(conversation_id, after_ord, list, limit=limit)

    async def read_context(
        self,
        conversation_id: str,
        after_ord: int | None,
        consume: Callable[[Iterable[sqlite3.Row]], T],
        *,
        limit: int | None = None,
    ) -> tuple[int, T]:
        """:meth:`context_after` with the rows handed to ``consume`` as they are read (on the
        reader thread when there is no ``limit``): a long context then never exists as rows
        all at once, whose allocation would make the garbage collector walk the heap, every
        thread waiting, several times over."""

        def read(conn: sqlite3.Connection) -> tuple[int, T]:
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    "SELECT context_rev FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                if row is None:
                    raise NotFound.of("Conversation", conversation_id)
                consumed = consume(
                    conn.execute(
                        in_context_sql(
                            "cm.ord, m.message_type, m.content, m.extra", _POS, _CTX, after=":after"
                        )
                        + (" LIMIT :limit" if limit is not None else ""),
                        {"c": conversation_id, "after": -1 if after_ord is None else after_ord}
                        | ({} if limit is None else {"limit": limit}),
                    )
                )
            finally:
                conn.execute("COMMIT")
            return row[0], consumed

        return await self.db.read(read, rows=limit)


def _greatest(bounds: list[str]) -> str:
    """SQL for the greatest of ``bounds`` (NULL if any is)."""
    return bounds[0] if len(bounds) == 1 else f"MAX({', '.join(bounds)})"

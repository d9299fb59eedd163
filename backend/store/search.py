"""Full-text search over messages with SQLite FTS5 (the ``messages_fts`` index, kept in step by
triggers; see ``store.schema``), ranked by BM25 (a query matching a great many messages lists the
newest of them).

The index holds each message once (a message is stored once; a fork only lists it). A hit is
joined to every conversation that lists the message (found through its lineage, see
``store.schema``), so filtering by conversation finds it in forks too, and each result says which
conversation it is from.
"""

import re
import sqlite3
from typing import Any

from backend.errors import InvalidArgument
from backend.store.db import Database

# The message kinds a search returns: Letta's search results are these four kinds.
SEARCHED_KINDS = ("user_message", "assistant_message", "reasoning_message")
_WORD = re.compile(r"\w+", re.UNICODE)


def match_expression(query: str, *, any_word: bool = False) -> str:
    """An FTS5 query that finds every word of ``query`` (or any, with ``any_word``), each word
    quoted so that the user's text is never read as FTS5 syntax."""
    words = _WORD.findall(query)
    if not words:
        raise InvalidArgument("The search query has no words to look for.")
    return (" OR " if any_word else " ").join(f'"{w}"' for w in words)


class MessageSearch:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(
        self,
        query: str,
        *,
        agent_id: str | None = None,
        conversation_id: str | None = None,
        limit: int = 50,
        start: str | None = None,
        end: str | None = None,
    ) -> list[dict[str, Any]]:
        """The best matches first: messages with every word, or, if none has them all, any."""
        rows = await self._ranked(
            match_expression(query), agent_id, conversation_id, limit, start, end
        )
        if not rows:
            rows = await self._ranked(
                match_expression(query, any_word=True),
                agent_id,
                conversation_id,
                limit,
                start,
                end,
            )
        return [_hit(r) for r in rows]

    async def agent_history(
        self,
        agent_id: str,
        *,
        query: str | None,
        kinds: list[str],
        limit: int,
        start: str | None = None,
        end: str | None = None,
    ) -> list[sqlite3.Row]:
        """An agent's messages of the given kinds: those matching ``query`` (every word, else
        any), best first, from the text index; without a query, the newest."""
        where = [f"+m.message_type IN ({','.join('?' * len(kinds))})"]
        params: list[Any] = [*kinds]
        for clause, value in (("+m.created_at >= ?", start), ("+m.created_at <= ?", end)):
            if value is not None:
                where.append(clause)
                params.append(value)
        where.append(_OF_AGENT)
        params.append(agent_id)
        if not query:
            sql = _AGENT_NEWEST.format(where=" AND ".join(where))
            return await self.db.read(lambda conn: conn.execute(sql, (*params, limit)).fetchall())
        for any_word in (False, True):
            rows = await self._matching(
                _AGENT_SEARCH, match_expression(query, any_word=any_word), where, params, limit
            )
            if rows:
                return rows
        return []

    async def _ranked(
        self,
        expression: str,
        agent_id: str | None,
        conversation_id: str | None,
        limit: int,
        start: str | None,
        end: str | None,
    ) -> list[sqlite3.Row]:
        """The best ``limit`` matches that pass the filters (on a reader thread)."""
        where = [f"+m.message_type IN ({','.join('?' * len(SEARCHED_KINDS))})"]
        params: list[Any] = [*SEARCHED_KINDS]
        for clause, value in (
            ("+c.agent_id = ?", agent_id),
            ("+c.id = ?", conversation_id),
            ("+m.created_at >= ?", start),
            ("+m.created_at <= ?", end),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)

        return await self._matching(_SEARCH, expression, where, params, limit)

    async def _matching(
        self, template: str, expression: str, where: list[str], params: list[Any], limit: int
    ) -> list[sqlite3.Row]:
        """The best ``limit`` rows of ``template`` (a query over the index's ``hits``) that
        pass ``where``, reading more hits until enough pass or there are no more (on a reader
        thread)."""

        def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            matches = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?"
                " LIMIT ?)",
                (expression, RANKED_AT_MOST + 1),
            ).fetchone()[0]
            ranked = matches <= RANKED_AT_MOST
            score, order = ("rank", "rank") if ranked else ("-rowid", "rowid DESC")
            wanted = limit * 4
            while True:
                rows = conn.execute(
                    template.format(score=score, order=order, where=" AND ".join(where)),
                    (expression, wanted, *params, limit),
                ).fetchall()
                if len(rows) >= limit or wanted >= matches:
                    return rows
                wanted *= 8

        return await self.db.read(read)


# The text index drives: the best hits are taken from it first, then joined to their messages
# and the conversations listing them, and filtered. The unary ``+`` and CROSS JOINs keep
# SQLite from scanning a whole conversation per hit instead. Ranking costs time for every
# match, so a query that matches more than RANKED_AT_MOST messages (a very common word) lists
# the newest of them instead, which is what such a query can usefully mean.
RANKED_AT_MOST = 3000
_SEARCH = (
    "WITH hits AS MATERIALIZED (SELECT rowid AS hit, {score} AS score"
    " FROM messages_fts WHERE messages_fts MATCH ? ORDER BY {order} LIMIT ?)"
    " SELECT m.id, m.message_type, m.content, c.id AS conversation_id, m.created_at, c.agent_id"
    " FROM hits"
    " CROSS JOIN messages m ON m.pos = hits.hit"
    " CROSS JOIN conversations c ON c.lineage = m.lineage"
    " CROSS JOIN conversation_messages cm ON cm.conversation_pos = c.pos"
    " AND cm.ord = m.origin_ord AND cm.message_pos = m.pos"
    " WHERE {where} ORDER BY hits.score, c.pos LIMIT ?"
)


# An agent looking back (its ``conversation_search`` tool): each message once, however many of
# the agent's conversations list it; the best hits first, as for the API's search.
_AGENT_SEARCH = (
    "WITH hits AS MATERIALIZED (SELECT rowid AS hit, {score} AS score"
    " FROM messages_fts WHERE messages_fts MATCH ? ORDER BY {order} LIMIT ?)"
    " SELECT m.* FROM hits CROSS JOIN messages m ON m.pos = hits.hit"
    " WHERE {where} ORDER BY hits.score LIMIT ?"
)
# Without a query: the agent's newest messages, read from the newest back.
_AGENT_NEWEST = "SELECT m.* FROM messages m WHERE {where} ORDER BY m.pos DESC LIMIT ?"
# The message is listed by one of the agent's conversations (those of its lineage listing it:
# ``store.schema``).
_OF_AGENT = (
    "EXISTS (SELECT 1 FROM conversations c JOIN conversation_messages cm"
    " ON cm.conversation_pos = c.pos AND cm.ord = m.origin_ord AND cm.message_pos = m.pos"
    " WHERE c.lineage = m.lineage AND c.agent_id = ?)"
)


def _hit(row: sqlite3.Row) -> dict[str, Any]:
    """One result in Letta's shape (``…MessageListResult``), with its conversation."""
    text_key = "reasoning" if row["message_type"] == "reasoning_message" else "content"
    return {
        "message_id": row["id"],
        "message_type": row["message_type"],
        text_key: row["content"],
        "agent_id": row["agent_id"],
        "conversation_id": row["conversation_id"],
        "created_at": row["created_at"],
    }

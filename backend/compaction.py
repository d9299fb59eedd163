"""Compaction: replace the oldest part of a conversation's context with a summary.

``sliding_window`` summarizes the oldest whole turns (at least the given fraction of the
context) and keeps the latest turns as they are; ``all`` summarizes everything after the system
message. The summary is written by a model from a transcript of exactly the messages it
replaces, earlier summaries included, so a second compaction folds the first one in and nothing
said is dropped silently. Replaced messages stay in the history, out of the context (which starts
at the summary from then on); the summary sorts right after the last of them (see
``store.schema``).

The caller holds the conversation's lock: the HTTP route takes it for the compaction, a turn
already holds it when its context overflows.
"""

import asyncio
import dataclasses
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from backend.errors import NothingToCompact
from backend.llm import LLMContextLengthError, ResolvedModel, estimate_text_tokens
from backend.llm.tokens import BYTES_PER_TOKEN
from backend.store import Store
from backend.store.messages import (
    LISTED,
    NewMessage,
    context_changed,
    context_from,
    conversation_pos,
    in_context_sql,
    insert_rows,
)
from shared_schema import CompactionSettings

DEFAULT_PROMPT = (
    "You are compacting a conversation between a user and an AI assistant so it can continue "
    "within a limited context. Write a concise summary of the transcript below: the facts, "
    "names, numbers, decisions, open questions and the user's preferences, in the order they "
    "came up. If the transcript starts with an earlier summary, fold it in. Write only the "
    "summary."
)
# Message kinds that start a new unit of whole-turn grouping.
TURN_STARTS = frozenset({"user_message", "summary_message", "system_message"})
MIN_CHUNK_TOKENS = 64
NO_CONTEXT = "No in-context messages found for this conversation."
NOTHING_TO_REDUCE = "Nothing in this conversation's context can be reduced by compaction yet."


@dataclasses.dataclass(frozen=True)
class Compaction:
    summary: str
    num_messages_before: int
    num_messages_after: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "num_messages_before": self.num_messages_before,
            "num_messages_after": self.num_messages_after,
        }


def effective_settings(
    agent_default: dict[str, Any] | None, requested: CompactionSettings | None = None
) -> CompactionSettings:
    """The agent's default settings (set by PATCH) with what a request sets on top, as Letta
    merges them."""
    merged = dict(agent_default or {})
    if requested is not None:
        merged.update(requested.model_dump(exclude_unset=True))
    return CompactionSettings.model_validate(merged)


# Each message of a context as one letter, so that what to replace is chosen without reading
# the messages into Python: ``S`` the system message, ``T`` another start of a turn (one of
# ``TURN_STARTS``), ``.`` any other.
_LETTERS = {kind: "S" if kind == "system_message" else "T" for kind in sorted(TURN_STARTS)}
LETTER = (
    "CASE m.message_type "
    + " ".join(f"WHEN '{kind}' THEN '{letter}'" for kind, letter in _LETTERS.items())
    + " ELSE '.' END"
)


def replaced_span(letters: str, settings: CompactionSettings) -> tuple[int, int]:
    """Where in the context (one letter per message, see ``LETTER``) the messages to summarize
    are, as ``start, end``: the oldest, after its system message.

    ``sliding_window`` takes whole turns from the front until at least the target share is
    taken and something is really reduced, always keeping the latest turn. So the cut is at
    the first turn start at or after the target, or else at the latest turn's start: found by
    looking around the target, not by grouping the whole context into turns.
    """
    if not letters:
        raise NothingToCompact(NO_CONTEXT)
    start = 1 if letters[0] == "S" else 0
    body = letters[start:]
    if settings.mode == "all":
        cut = len(body)
    else:
        need = max(2, math.ceil(settings.sliding_window_percentage * len(body)))
        found = [i for i in (body.find("T", need), body.find("S", need)) if i >= 0]
        cut = min(found) if found else max(0, body.rfind("T", 1), body.rfind("S", 1))
    if cut < 2:
        raise NothingToCompact(NOTHING_TO_REDUCE)
    return start, start + cut


def choose_replaced(rows: list[sqlite3.Row], settings: CompactionSettings) -> list[sqlite3.Row]:
    """The rows of a context (oldest first) that ``replaced_span`` chooses."""
    letters = "".join(_LETTERS.get(r["message_type"], ".") for r in rows)
    start, end = replaced_span(letters, settings)
    return rows[start:end]


# Each replaced message's transcript paragraph, as ``transcript_paragraph(*transcript_entry())``
# writes it (test_compaction_summary_perf_invariants.py holds the two equal for every kind),
# is written by SQLite, and the paragraphs are joined there too: Python handles the transcript
# only as a few large strings, never a message at a time. Kinds not transcribed, and messages
# without text, give NULL, which the join skips.
TRANSCRIBED = (
    "user_message",
    "assistant_message",
    "system_message",
    "summary_message",
    "tool_return_message",
    "tool_call_message",
    "approval_request_message",
)
_ROLES = {
    "user_message": "User",
    "assistant_message": "Assistant",
    "system_message": "System",
    "summary_message": "Summary",
    "tool_return_message": "Tool",
    "tool_call_message": "Assistant",
    "approval_request_message": "Assistant",
}
_CALL = (
    "'[called ' || coalesce(m.extra ->> '$.name', 'None') || ' with '"
    " || coalesce(m.extra ->> '$.arguments', 'None') || ']'"
)
# What ``str.strip`` takes off.
_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Between two paragraphs in what SQLite returns: bytes that UTF-8 text never holds, so a
# paragraph's own blank lines are never taken for a boundary; as long as the blank line
# (``PARAGRAPH_BREAK``) that replaces it, so the offsets found stay right.
SEPARATOR = b"\xff\xff"
PARAGRAPH_BREAK = b"\n\n"


def _stripped(text: str) -> str:
    """SQL for ``text.strip()``, NULL when that is empty. Trimming a set of characters costs
    SQLite far more than the rest of a paragraph, so text that starts and ends with a visible
    ASCII character (nearly all) is taken as it is: ``str.strip`` would leave it so."""
    visible = (
        f"unicode({text}) BETWEEN 33 AND 126"
        f" AND substr(CAST({text} AS BLOB), -1) BETWEEN x'21' AND x'7e'"
    )
    return f"CASE WHEN {visible} THEN {text} ELSE nullif(trim({text}, :space), '') END"


def paragraph_sql(clip: bool) -> str:
    """SQL for the transcript paragraph of a message ``m``, or NULL; its text clipped to
    ``:clip`` characters when ``clip``. ``:space`` is ``_SPACE``."""

    def text(kind: str) -> str:
        if kind in ("tool_call_message", "approval_request_message"):
            # Starts with "[" and ends with "]" (or "…"): nothing to strip.
            return _clipped(_CALL) if clip else _CALL
        if clip:
            return f"nullif(trim({_clipped('m.content')}, :space), '')"
        return _stripped("m.content")

    cases = " ".join(
        f"WHEN '{kind}' THEN '{_ROLES[kind]}: ' || {text(kind)}" for kind in TRANSCRIBED
    )
    return f"CASE m.message_type {cases} END"


def _clipped(text: str) -> str:
    """SQL for ``text`` clipped to ``:clip`` characters, marked so when it was."""
    return f"CASE WHEN length({text}) > :clip THEN substr({text}, 1, :clip) || ' …' ELSE {text} END"


_FIRST_TWO = in_context_sql("cm.ord, m.message_type", conversation_pos(":c"), context_from(":c"))
_FIRST_TWO += " LIMIT 2"
_LAST_ORD = (
    f"SELECT max(ord) FROM conversation_messages WHERE conversation_pos = {conversation_pos(':c')}"
)
# In-context messages of the range from ``context_from`` on, from the ord ``:first`` on.
_FROM_FIRST = (
    f"FROM {LISTED} WHERE cm.conversation_pos = {conversation_pos(':c')}"
    f" AND cm.ord >= MAX({context_from(':c')}, :first) AND cm.in_context = 1"
)


def _replaced_sql(clip: bool, limited: bool) -> str:
    """SQL for how many in-context messages of the range from ``context_from`` on there are
    with an ``ord`` from ``:first`` to ``:last`` (or the first ``:n`` from ``:first`` on, when
    ``limited``), the last one's ``ord``, and their transcript: ``SEPARATOR`` between
    paragraphs, as a blob (its bytes are cut before being decoded)."""
    paragraph = paragraph_sql(clip)
    if limited:
        rows = f"SELECT cm.ord, {paragraph} AS p {_FROM_FIRST} ORDER BY cm.ord LIMIT :n"
        return f"SELECT count(*), max(ord), {_joined('p')} FROM ({rows})"
    # Not through a subquery: passing each row on costs SQLite a fifth more.
    return f"SELECT count(*), max(cm.ord), {_joined(paragraph)} {_FROM_FIRST} AND cm.ord <= :last"


def _joined(paragraph: str) -> str:
    return f"CAST(group_concat({paragraph}, CAST(x'{SEPARATOR.hex()}' AS TEXT)) AS BLOB)"


_REPLACED_SQL = {
    (clip, limited): _replaced_sql(clip, limited)
    for clip in (False, True)
    for limited in (False, True)
}


@dataclasses.dataclass(frozen=True)
class Replaced:
    """The messages a compaction replaces: ``count`` of the ``before`` in context, the last of
    them at ``last_ord``; their transcript in ``parts``: runs of UTF-8 paragraphs, each
    paragraph whole, ``SEPARATOR`` between paragraphs (none empty)."""

    before: int
    count: int
    last_ord: int
    parts: tuple[bytes, ...]


@dataclasses.dataclass(frozen=True)
class _Start:
    """Where the messages after the system message start, and the conversation's last ord."""

    system: int  # 1 when the context starts with the system message, else 0
    first: int | None  # the ord of the first message after it, if any
    last: int


def _start(conn: sqlite3.Connection, conversation_id: str) -> _Start:
    head = conn.execute(_FIRST_TWO, {"c": conversation_id}).fetchall()
    if not head:
        raise NothingToCompact(NO_CONTEXT)
    system = 1 if head[0][1] == "system_message" else 0
    first = head[system][0] if len(head) > system else None
    return _Start(system, first, conn.execute(_LAST_ORD, {"c": conversation_id}).fetchone()[0])


def _read(
    conn: sqlite3.Connection,
    conversation_id: str,
    clip: int | None,
    first: int,
    last: int,
    limit: int | None = None,
) -> tuple[int, int | None, bytes]:
    """``count, last ord, transcript`` of the in-context messages from the ord ``first`` to
    ``last`` (or of the first ``limit`` from ``first`` on)."""
    params = {"c": conversation_id, "first": first, "last": last, "n": limit, "clip": clip}
    params["space"] = _SPACE
    count, last_ord, transcript = conn.execute(
        _REPLACED_SQL[bool(clip), limit is not None], params
    ).fetchone()
    return count, last_ord, transcript or b""


async def read_replaced(
    store: Store, conversation_id: str, settings: CompactionSettings
) -> Replaced:
    """What compacting the conversation with ``settings`` replaces (see ``replaced_span``).

    ``all`` replaces every message after the system message: no look at each one first, and
    the transcript is written in two halves at once, one per reader thread (SQLite works
    without the GIL), split at the middle ord (ords are spread evenly).
    """
    clip = settings.clip_chars
    start = await store.db.read(lambda conn: _start(conn, conversation_id), rows=2)
    if start.first is None:
        raise NothingToCompact(NOTHING_TO_REDUCE)
    first, last = start.first, start.last
    if settings.mode == "all":
        middle = (first + last) // 2
        halves = await asyncio.gather(
            store.db.read(lambda conn: _read(conn, conversation_id, clip, first, middle)),
            store.db.read(lambda conn: _read(conn, conversation_id, clip, middle + 1, last)),
        )
        count = sum(half[0] for half in halves)
        last_ord = max((half[1] for half in halves if half[1] is not None), default=first)
        parts = tuple(half[2] for half in halves if half[2])
        replaced = Replaced(start.system + count, count, last_ord, parts)
    else:
        letters = await store.messages.in_context_letters(conversation_id, LETTER)
        begin, end = replaced_span(letters, settings)
        count, last_ord, transcript = await store.db.read(
            lambda conn: _read(conn, conversation_id, clip, first, last, end - begin)
        )
        replaced = Replaced(
            len(letters), count, last_ord or first, (transcript,) if transcript else ()
        )
    if replaced.count < 2:
        raise NothingToCompact(NOTHING_TO_REDUCE)
    return replaced


def transcript_chunks(parts: Sequence[bytes], budget_tokens: int) -> list[str]:
    """The transcript (``Replaced.parts``), cut between paragraphs into pieces that each fit
    the summarizer's budget, as many paragraphs in each as fit (a paragraph longer than the
    budget is a piece of its own), as text.

    A piece of at most ``budget_tokens * BYTES_PER_TOKEN`` bytes is at most ``budget_tokens``
    by ``estimate_text_tokens``: the cuts are found in the bytes, a few searches in all.
    """
    limit = budget_tokens * BYTES_PER_TOKEN
    chunks: list[str] = []
    pieces: list[memoryview] = []  # of the chunk being filled
    used = 0  # its bytes, separators between pieces included

    for part in parts:
        view = memoryview(part)
        start, end = 0, len(part)
        while start < end:
            room = limit - used - (len(SEPARATOR) if pieces else 0)
            cut = end
            if end - start > room:
                cut = part.rfind(SEPARATOR, start, start + room + len(SEPARATOR))
                if cut < 0 and pieces:  # the next paragraph goes to a new chunk
                    chunks.append(_text(pieces))
                    pieces, used = [], 0
                    continue
                if cut < 0:  # the next paragraph alone is over the budget
                    cut = part.find(SEPARATOR, start)
                    cut = end if cut < 0 else cut
            used += (len(SEPARATOR) if pieces else 0) + cut - start
            pieces.append(view[start:cut])
            if cut < end or used > limit:  # nothing more fits
                chunks.append(_text(pieces))
                pieces, used = [], 0
            start = cut + len(SEPARATOR)
    if pieces:
        chunks.append(_text(pieces))
    return chunks


def _text(pieces: list[memoryview]) -> str:
    """Runs of paragraphs as one text, a blank line between paragraphs."""
    joined = SEPARATOR.join(pieces).replace(SEPARATOR, PARAGRAPH_BREAK)
    return joined.decode("utf-8", "replace")


async def summarize(
    model: ResolvedModel, parts: Sequence[bytes], settings: CompactionSettings
) -> str:
    """One summary of a transcript (``Replaced.parts``); one too long for the model is folded
    chunk by chunk."""
    prompt = settings.prompt or DEFAULT_PROMPT
    max_tokens = max(128, min(1024, model.context_window // 8))
    # Room for the prompt, the previous fold's summary, the answer and a margin.
    room = model.context_window - estimate_text_tokens(prompt) - 2 * max_tokens
    budget = max(MIN_CHUNK_TOKENS, int(room * 0.8))
    while True:
        try:
            return await _fold(model, parts, prompt, budget, max_tokens)
        except LLMContextLengthError:
            # The model's real window is smaller than we were told: use smaller pieces.
            if budget <= MIN_CHUNK_TOKENS:
                raise
            budget = max(MIN_CHUNK_TOKENS, budget // 2)


async def _fold(
    model: ResolvedModel, parts: Sequence[bytes], prompt: str, budget: int, max_tokens: int
) -> str:
    summary = ""
    for chunk in transcript_chunks(parts, budget):
        text = f"Summary: {summary}\n\n{chunk}" if summary else chunk
        summary = (
            await model.provider.summarize(
                model.model_name, prompt=prompt, transcript=text, max_tokens=max_tokens
            )
        ).strip()
    return summary


async def compact(
    store: Store, conversation_id: str, model: ResolvedModel, settings: CompactionSettings
) -> Compaction:
    """Summarize and store; on any failure (a model error included) nothing has changed."""
    replaced = await read_replaced(store, conversation_id, settings)
    summary = await summarize(model, replaced.parts, settings)
    if not summary:
        raise NothingToCompact("The model wrote an empty summary; the context is unchanged.")
    before, after = replaced.before, replaced.before - replaced.count + 1
    counts = {
        "num_messages_before": before,
        "num_messages_after": after,
        "compacted_count": replaced.count,
    }
    summary_ord = replaced.last_ord + 1
    async with store.db.transaction() as tx:
        # The replaced messages are the context's front (after the system message): the context
        # now starts at the summary, just past them. One number changes, whatever their count.
        await insert_rows(
            tx,
            conversation_id,
            [(summary_ord, NewMessage("summary_message", summary, counts))],
            sent=False,
        )
        await tx.execute(
            "UPDATE conversations SET context_from = ? WHERE id = ?",
            (summary_ord, conversation_id),
        )
        await context_changed(tx, conversation_id)
    return Compaction(summary, before, after)

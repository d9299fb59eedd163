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

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from backend.errors import NothingToCompact
from backend.llm import LLMContextLengthError, ResolvedModel, estimate_text_tokens
from backend.llm.tokens import BYTES_PER_TOKEN
from backend.store import Store
from backend.store.messages import NewMessage, context_changed, insert_rows
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


@dataclass(frozen=True)
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
        raise NothingToCompact("No in-context messages found for this conversation.")
    start = 1 if letters[0] == "S" else 0
    body = letters[start:]
    if settings.mode == "all":
        cut = len(body)
    else:
        need = max(2, math.ceil(settings.sliding_window_percentage * len(body)))
        found = [i for i in (body.find("T", need), body.find("S", need)) if i >= 0]
        cut = min(found) if found else max(0, body.rfind("T", 1), body.rfind("S", 1))
    if cut < 2:
        raise NothingToCompact(
            "Nothing in this conversation's context can be reduced by compaction yet."
        )
    return start, start + cut


def choose_replaced(rows: list[sqlite3.Row], settings: CompactionSettings) -> list[sqlite3.Row]:
    """The rows of a context (oldest first) that ``replaced_span`` chooses."""
    letters = "".join(_LETTERS.get(r["message_type"], ".") for r in rows)
    start, end = replaced_span(letters, settings)
    return rows[start:end]


# ``transcript_paragraph(*transcript_entry(row))`` of a message (``m``) of one of the
# ``TRANSCRIBED`` kinds as SQL, its text clipped to ``:clip`` characters when that is above 0.
# SQLite writes a long transcript's paragraphs far faster than Python reads the messages; each
# part appears once, as SQLite does not share a repeated one. test_compaction_summary_perf_
# invariants.py holds the two equal for every kind.
TRANSCRIBED = (
    "user_message",
    "assistant_message",
    "system_message",
    "summary_message",
    "tool_return_message",
    "tool_call_message",
    "approval_request_message",
)
_ROLE = (
    "CASE m.message_type WHEN 'user_message' THEN 'User' WHEN 'system_message' THEN 'System'"
    " WHEN 'summary_message' THEN 'Summary' WHEN 'tool_return_message' THEN 'Tool'"
    " ELSE 'Assistant' END"
)
_TEXT = (
    "CASE WHEN m.message_type IN ('tool_call_message', 'approval_request_message') THEN"
    " '[called ' || coalesce(m.extra ->> '$.name', 'None') || ' with '"
    " || coalesce(m.extra ->> '$.arguments', 'None') || ']' ELSE m.content END"
)
_CLIPPED = (
    f"CASE WHEN :clip > 0 AND length({_TEXT}) > :clip"
    f" THEN substr({_TEXT}, 1, :clip) || ' …' ELSE {_TEXT} END"
)
PARAGRAPH = f"coalesce({_ROLE} || ': ' || nullif(trim({_CLIPPED}, :space), ''), '')"
# What ``str.strip`` takes off.
_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


async def transcript(
    store: Store, conversation_id: str, first_ord: int, last_ord: int, clip_chars: int | None
) -> list[tuple[str, int]]:
    """The transcript paragraphs of the in-context messages from ``first_ord`` to ``last_ord``
    (a run of the context), each with its token estimate."""
    rows = await store.messages.in_context_between(
        conversation_id,
        first_ord,
        last_ord,
        PARAGRAPH,
        f" AND m.message_type IN ({', '.join(repr(k) for k in TRANSCRIBED)})",
        clip=clip_chars or 0,
        space=_SPACE,
    )
    # estimate_text_tokens, written out: a call per paragraph costs more than the rest here.
    return [(p, -(-len(p.encode()) // BYTES_PER_TOKEN)) for (p,) in rows]


def transcript_chunks(paragraphs: list[tuple[str, int]], budget_tokens: int) -> list[str]:
    """The transcript, cut into pieces that each fit the summarizer's budget."""
    chunks: list[list[str]] = [[]]
    used = 0
    for paragraph, cost in paragraphs:
        if used and used + cost > budget_tokens:
            chunks.append([])
            used = 0
        chunks[-1].append(paragraph)
        used += cost
    return ["\n\n".join(chunk) for chunk in chunks if chunk]


async def summarize(
    model: ResolvedModel, paragraphs: list[tuple[str, int]], settings: CompactionSettings
) -> str:
    """One summary of a transcript's ``paragraphs``; one too long for the model is folded chunk
    by chunk."""
    prompt = settings.prompt or DEFAULT_PROMPT
    max_tokens = max(128, min(1024, model.context_window // 8))
    # Room for the prompt, the previous fold's summary, the answer and a margin.
    room = model.context_window - estimate_text_tokens(prompt) - 2 * max_tokens
    budget = max(MIN_CHUNK_TOKENS, int(room * 0.8))
    while True:
        try:
            return await _fold(model, paragraphs, prompt, budget, max_tokens)
        except LLMContextLengthError:
            # The model's real window is smaller than we were told: use smaller pieces.
            if budget <= MIN_CHUNK_TOKENS:
                raise
            budget = max(MIN_CHUNK_TOKENS, budget // 2)


async def _fold(
    model: ResolvedModel,
    paragraphs: list[tuple[str, int]],
    prompt: str,
    budget: int,
    max_tokens: int,
) -> str:
    summary = ""
    for chunk in transcript_chunks(paragraphs, budget):
        transcript = f"Summary: {summary}\n\n{chunk}" if summary else chunk
        summary = (
            await model.provider.summarize(
                model.model_name, prompt=prompt, transcript=transcript, max_tokens=max_tokens
            )
        ).strip()
    return summary


async def compact(
    store: Store, conversation_id: str, model: ResolvedModel, settings: CompactionSettings
) -> Compaction:
    """Summarize and store; on any failure (a model error included) nothing has changed."""
    letters, ords = await store.messages.in_context_letters(conversation_id, LETTER)
    start, end = replaced_span(letters, settings)
    paragraphs = await transcript(
        store, conversation_id, ords[start], ords[end - 1], settings.clip_chars
    )
    summary = await summarize(model, paragraphs, settings)
    if not summary:
        raise NothingToCompact("The model wrote an empty summary; the context is unchanged.")
    before, after = len(letters), len(letters) - (end - start) + 1
    counts = {
        "num_messages_before": before,
        "num_messages_after": after,
        "compacted_count": end - start,
    }
    summary_ord = ords[end - 1] + 1
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

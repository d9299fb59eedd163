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

from backend.agent.context import transcript_entry
from backend.errors import NothingToCompact
from backend.llm import LLMContextLengthError, ResolvedModel, estimate_text_tokens
from backend.llm.summary import transcript_paragraph
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
# The transcript roles of the commonest kinds, as ``transcript_entry`` gives them: a long
# context is mostly these, and they need no chat form built first.
_PLAIN_ROLES = {"user_message": "user", "assistant_message": "assistant"}


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


def _starts_turn(row: sqlite3.Row) -> bool:
    return row["message_type"] in TURN_STARTS


def choose_replaced(rows: list[sqlite3.Row], settings: CompactionSettings) -> list[sqlite3.Row]:
    """The oldest messages of the context, after its system message, to summarize.

    ``sliding_window`` takes whole turns (each starts with one of ``TURN_STARTS``) from the
    front until at least the target share is taken and something is really reduced, always
    keeping the latest turn. So the cut is at the first turn start at or after the target, or
    else at the latest turn's start: found by looking at the rows around the target, not by
    grouping the whole context into turns.
    """
    if not rows:
        raise NothingToCompact("No in-context messages found for this conversation.")
    body = rows[1:] if rows[0]["message_type"] == "system_message" else rows
    if settings.mode == "all":
        cut = len(body)
    else:
        need = max(2, math.ceil(settings.sliding_window_percentage * len(body)))
        cut = next((i for i in range(need, len(body)) if _starts_turn(body[i])), None)
        if cut is None:
            cut = next((i for i in range(len(body) - 1, 0, -1) if _starts_turn(body[i])), 0)
    if cut < 2:
        raise NothingToCompact(
            "Nothing in this conversation's context can be reduced by compaction yet."
        )
    return body[:cut]


def transcript_chunks(
    rows: list[sqlite3.Row], budget_tokens: int, clip_chars: int | None
) -> list[str]:
    """The transcript of ``rows``, cut into pieces that each fit the summarizer's budget."""
    chunks: list[list[str]] = [[]]
    used = 0
    for row in rows:
        role = _PLAIN_ROLES.get(row["message_type"])
        if role is not None:
            content = row["content"]
        else:
            entry = transcript_entry(row)
            if entry is None:
                continue
            role, content = entry
        if clip_chars and len(content) > clip_chars:
            content = content[:clip_chars] + " …"
        paragraph = transcript_paragraph(role, content)
        cost = estimate_text_tokens(paragraph)
        if used and used + cost > budget_tokens:
            chunks.append([])
            used = 0
        chunks[-1].append(paragraph)
        used += cost
    return ["\n\n".join(chunk) for chunk in chunks if chunk]


async def summarize(
    model: ResolvedModel, rows: list[sqlite3.Row], settings: CompactionSettings
) -> str:
    """One summary of ``rows``; a transcript too long for the model is folded chunk by chunk."""
    prompt = settings.prompt or DEFAULT_PROMPT
    max_tokens = max(128, min(1024, model.context_window // 8))
    # Room for the prompt, the previous fold's summary, the answer and a margin.
    room = model.context_window - estimate_text_tokens(prompt) - 2 * max_tokens
    budget = max(MIN_CHUNK_TOKENS, int(room * 0.8))
    while True:
        try:
            return await _fold(model, rows, settings, prompt, budget, max_tokens)
        except LLMContextLengthError:
            # The model's real window is smaller than we were told: use smaller pieces.
            if budget <= MIN_CHUNK_TOKENS:
                raise
            budget = max(MIN_CHUNK_TOKENS, budget // 2)


async def _fold(
    model: ResolvedModel,
    rows: list[sqlite3.Row],
    settings: CompactionSettings,
    prompt: str,
    budget: int,
    max_tokens: int,
) -> str:
    summary = ""
    for chunk in transcript_chunks(rows, budget, settings.clip_chars):
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
    rows = await store.messages.in_context(conversation_id)
    replaced = choose_replaced(rows, settings)
    summary = await summarize(model, replaced, settings)
    if not summary:
        raise NothingToCompact("The model wrote an empty summary; the context is unchanged.")
    before, after = len(rows), len(rows) - len(replaced) + 1
    counts = {
        "num_messages_before": before,
        "num_messages_after": after,
        "compacted_count": len(replaced),
    }
    summary_ord = replaced[-1]["ord"] + 1
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

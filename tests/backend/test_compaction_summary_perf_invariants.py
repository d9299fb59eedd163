"""Invariants behind the fast paths of compaction and of the builtin model's summary.

Compaction flags the replaced messages with one ranged update, finds the sliding window's cut
without grouping the whole context into turns, and the extractive summary tokenizes most
sentences without its word regex and sums gains exactly. Each must give what the plain way
gives.
"""

import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend import compaction
from backend.agent.context import transcript_entry
from backend.errors import NothingToCompact
from backend.llm import BuiltinProvider, ResolvedModel, estimate_text_tokens
from backend.llm.summary import _WORD, _tokenize, transcript_paragraph
from backend.store import NewMessage, Store
from backend.store.messages import LISTED, columns, context_from, conversation_pos
from shared_schema import CompactionSettings
from tests.seed import new_agent

ROOT = Path(__file__).resolve().parents[2]
MODEL = ResolvedModel(
    provider=BuiltinProvider(),
    model_name="echo",
    handle="builtin/echo",
    context_window=8192,
    endpoint_type="builtin",
    endpoint=None,
    configured=True,
)
# Plain turns mostly, with summaries (which start a turn) and tool steps (which never do).
KINDS = [
    *["user_message", "assistant_message"] * 3,
    "summary_message",
    "tool_call_message",
    "tool_return_message",
]


def conversation_messages(turns: int) -> list[NewMessage]:
    messages = [NewMessage("system_message", "You are helpful.")]
    for i in range(turns):
        messages.append(NewMessage("user_message", f"Turn {i}: my number is {i * 13}."))
        if i % 3 == 0:
            messages.append(NewMessage("tool_call_message", extra={"name": "lookup"}))
            messages.append(NewMessage("tool_return_message", f"Found {i}."))
        messages.append(NewMessage("assistant_message", f"Noted number {i * 13} for turn {i}."))
    return messages


async def context_flags(store: Store, conversation_id: str) -> list[tuple[str, int]]:
    rows = await store.db.fetchall(
        f"SELECT {columns(context_from(':c'))} FROM {LISTED}"
        f" WHERE cm.conversation_pos = {conversation_pos(':c')} ORDER BY cm.ord",
        {"c": conversation_id},
    )
    return [(row["message_type"], row["in_context"]) for row in rows]


async def test_ranged_update_flags_exactly_the_replaced_messages(tmp_path: Path) -> None:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        agent = await new_agent(store)
        # Both conversations use the same ord values: the range must stay in its conversation.
        ids = []
        for _ in range(2):
            conversation = await store.conversations.create(agent["id"], None)
            async with store.db.transaction() as tx:
                await store.messages.append(tx, conversation["id"], conversation_messages(12))
            ids.append(conversation["id"])
        target, other = ids
        other_before = await context_flags(store, other)
        rows = await store.messages.in_context(target)
        replaced = compaction.choose_replaced(
            rows, CompactionSettings(sliding_window_percentage=0.5)
        )

        await compaction.compact(
            store, target, MODEL, CompactionSettings(sliding_window_percentage=0.5)
        )

        kept = rows[1 + len(replaced) :]
        after = await store.messages.in_context(target)
        assert [r["message_type"] for r in after[:2]] == ["system_message", "summary_message"]
        assert [r["ord"] for r in after[2:]] == [r["ord"] for r in kept]
        flags = await context_flags(store, target)
        assert flags[1 : 1 + len(replaced)] == [(r["message_type"], 0) for r in replaced]
        assert await context_flags(store, other) == other_before

        # A second compaction takes the first summary out of the context along with the rest.
        await compaction.compact(store, target, MODEL, CompactionSettings(mode="all"))

        flags = await context_flags(store, target)
        in_context = [kind for kind, flag in flags if flag]
        assert in_context == ["system_message", "summary_message"]
        assert flags[-1] == ("summary_message", 1)
        assert [kind for kind, _ in flags].count("summary_message") == 2
        assert await context_flags(store, other) == other_before
    finally:
        await store.close()


def whole_turn_cut(kinds: list[str], percentage: float) -> int:
    """The sliding window's cut by grouping every message into whole turns, the plain way."""
    turns: list[list[str]] = []
    for kind in kinds:
        if not turns or kind in compaction.TURN_STARTS:
            turns.append([kind])
        else:
            turns[-1].append(kind)
    target = math.ceil(percentage * len(kinds))
    taken = count = 0
    while taken < len(turns) - 1 and (count < target or count < 2):
        count += len(turns[taken])
        taken += 1
    return count


@pytest.mark.parametrize("seed", range(5))
def test_sliding_window_cut_matches_grouping_into_whole_turns(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        kinds = ["system_message"] if rng.random() < 0.7 else []
        kinds += [rng.choice(KINDS) for _ in range(rng.randint(0, 25))]
        rows = [{"message_type": kind, "ord": i} for i, kind in enumerate(kinds)]
        percentage = rng.choice([0.01, 0.3, 0.5, 0.99, rng.uniform(0.01, 0.99)])
        body = kinds[1:] if kinds[:1] == ["system_message"] else kinds
        expected = whole_turn_cut(body, percentage)
        settings = CompactionSettings(sliding_window_percentage=percentage)
        if expected < 2:
            with pytest.raises(NothingToCompact):
                compaction.choose_replaced(rows, settings)
        else:
            replaced = compaction.choose_replaced(rows, settings)
            assert [r["message_type"] for r in replaced] == body[:expected]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Plain words and 42 numbers",
        "Punctuation, (brackets) [and] {braces}; semi: colon! query? done.",
        "don't it's rock'n'roll 'quoted' trailing' ’tis cats’ x_y __init__",
        "Zürich straße Жук 中文 ½ Ⅻ ٣ e\u0301 İstanbul ΟΔΟΣ",
        "“Curly” quotes — dashes – and… ellipses",
        "tabs\tand\u00a0non-breaking\u2003spaces",
        "control\x00chars\x1fand\x7fdelete",
        "lone \ud800 surrogate",
        "emoji 😀 mixed",
    ],
)
def test_tokenizing_without_the_regex_gives_the_regex_words(text: str) -> None:
    texts = [text, "Simple sentence here", text.upper()]
    assert _tokenize(texts) == [_WORD.findall(t) for t in texts]


SUMMARY_IN_A_PROCESS = """
from backend.llm import extractive_summary

TOPICS = ["the garden", "a train to Lyon", "the quarterly budget", "Miso the cat",
          "tomato soup", "the roof repair", "a birthday on 12 March", "learning Rust",
          "the blue bicycle"]
lines = []
for i in range(200):
    topic = TOPICS[i % len(TOPICS)]
    speaker = "User" if i % 2 == 0 else "Assistant"
    lines.append(f"{speaker}: Note {i}: about {topic}, item {i * 7 % 101} matters. "
                 f"We agreed to revisit {topic} on day {i % 28 + 1}.")
print(extractive_summary("\\n\\n".join(lines)))
"""


def test_the_summary_is_the_same_in_every_process() -> None:
    """String hashing differs between processes; near-equal gains must not depend on it."""
    summaries = {
        subprocess.run(
            [sys.executable, "-c", SUMMARY_IN_A_PROCESS],
            cwd=ROOT,
            env={"PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(5)
    }
    assert len(summaries) == 1
    assert next(iter(summaries)).strip()


TRANSCRIBED = [
    NewMessage("system_message", "You are helpful."),
    NewMessage("user_message", "\u3000 spaced out \n\t"),
    NewMessage("assistant_message", ""),
    NewMessage("assistant_message", " \xa0 "),
    NewMessage("reasoning_message", "left out"),
    NewMessage("tool_call_message", extra={"name": "lookup", "arguments": '{"q": "ü"}'}),
    NewMessage("tool_call_message"),
    NewMessage("approval_request_message", extra={"name": "rm", "arguments": "{}"}),
    NewMessage("approval_response_message", extra={"approve": True}),
    NewMessage("tool_return_message", "42 🌱 " * 30),
    NewMessage("summary_message", "earlier talk"),
    NewMessage("event_message", "left out too"),
    NewMessage("system_message", "A later system message."),
    NewMessage("user_message", "First paragraph.\n\nSecond paragraph, same message."),
    NewMessage("user_message", "ünïcödé " * 40),
    NewMessage("assistant_message", "Ends in a wide space\u3000"),
    NewMessage("assistant_message", "x"),
    NewMessage("assistant_message", "Ends in an emoji 🌱"),
]


def python_paragraph(row: Any, clip: int | None) -> str | None:
    """What the transcript said of a message before SQLite wrote it."""
    entry = transcript_entry(row)
    if entry is None:
        return None
    role, content = entry
    if clip and len(content) > clip:
        content = content[:clip] + " …"
    return transcript_paragraph(role, content)


def paragraphs_of(parts: tuple[bytes, ...]) -> list[str]:
    assert all(parts)
    return [p.decode() for part in parts for p in part.split(compaction.SEPARATOR)]


@pytest.mark.parametrize("clip", [None, 100, 300])
@pytest.mark.parametrize("mode", ["all", "sliding_window"])
async def test_the_sql_transcript_gives_each_kind_its_transcript_entry(
    tmp_path: Path, clip: int | None, mode: str
) -> None:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        agent = await new_agent(store)
        conversation = await store.conversations.create(agent["id"], None)
        async with store.db.transaction() as tx:
            await store.messages.append(tx, conversation["id"], TRANSCRIBED)
        rows = await store.messages.in_context(conversation["id"])
        settings = CompactionSettings(mode=mode, clip_chars=clip, sliding_window_percentage=0.99)
        replaced = await compaction.read_replaced(store, conversation["id"], settings)
    finally:
        await store.close()
    taken = compaction.choose_replaced(rows, settings)
    assert taken == (rows[1:] if mode == "all" else rows[1:-4])  # the latest turn is kept
    expected = [p for r in taken if (p := python_paragraph(r, clip))]
    assert paragraphs_of(replaced.parts) == expected
    assert (replaced.before, replaced.count) == (len(rows), len(taken))
    assert replaced.last_ord == taken[-1]["ord"]
    # Reasoning, the approval answer, the event and the two without text are left out.
    assert len(expected) == len(taken) - 5


async def test_all_reads_after_the_system_message_before_the_context(tmp_path: Path) -> None:
    """After a compaction the system message sits before the context's range; ``all`` leaves
    it out of the transcript and counts it."""
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        agent = await new_agent(store)
        conversation = await store.conversations.create(agent["id"], None)
        async with store.db.transaction() as tx:
            await store.messages.append(tx, conversation["id"], conversation_messages(4))
        await compaction.compact(store, conversation["id"], MODEL, CompactionSettings(mode="all"))
        async with store.db.transaction() as tx:
            await store.messages.append(
                tx, conversation["id"], [NewMessage("user_message", "Later words.")]
            )
        rows = await store.messages.in_context(conversation["id"])
        replaced = await compaction.read_replaced(
            store, conversation["id"], CompactionSettings(mode="all")
        )
    finally:
        await store.close()
    assert [r["message_type"] for r in rows] == [
        "system_message",
        "summary_message",
        "user_message",
    ]
    assert (replaced.before, replaced.count, replaced.last_ord) == (3, 2, rows[-1]["ord"])
    paragraphs = paragraphs_of(replaced.parts)
    assert paragraphs == [f"Summary: {rows[1]['content']}", "User: Later words."]


@pytest.mark.parametrize("spoken_first", [True, False])
async def test_all_joins_its_two_halves_when_one_has_no_paragraph(
    tmp_path: Path, spoken_first: bool
) -> None:
    """``all`` writes the transcript in two halves split at the middle ord; a half of messages
    without paragraphs adds nothing, not an empty paragraph."""
    spoken = [NewMessage("user_message", "Hi."), NewMessage("assistant_message", "Hello.")]
    silent = [NewMessage("reasoning_message", f"Thinking {i}.") for i in range(6)]
    messages = spoken + silent if spoken_first else silent + spoken
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        agent = await new_agent(store)
        conversation = await store.conversations.create(agent["id"], None)
        async with store.db.transaction() as tx:
            await store.messages.append(
                tx, conversation["id"], [NewMessage("system_message", "Be brief."), *messages]
            )
        rows = await store.messages.in_context(conversation["id"])
        replaced = await compaction.read_replaced(
            store, conversation["id"], CompactionSettings(mode="all")
        )
    finally:
        await store.close()
    assert paragraphs_of(replaced.parts) == ["User: Hi.", "Assistant: Hello."]
    assert (replaced.before, replaced.count, replaced.last_ord) == (9, 8, rows[-1]["ord"])


async def test_all_with_nothing_but_the_system_message_reduces_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        agent = await new_agent(store)
        conversation = await store.conversations.create(agent["id"], None)
        settings = CompactionSettings(mode="all")
        with pytest.raises(NothingToCompact, match="No in-context messages"):
            await compaction.read_replaced(store, conversation["id"], settings)
        for text in ("You are helpful.", "One message."):
            with pytest.raises(NothingToCompact, match="can be reduced"):
                kind = "system_message" if text.startswith("You") else "user_message"
                async with store.db.transaction() as tx:
                    await store.messages.append(tx, conversation["id"], [NewMessage(kind, text)])
                await compaction.read_replaced(store, conversation["id"], settings)
    finally:
        await store.close()


def greedy_chunks(paragraphs: list[str], limit: int) -> list[str]:
    """Whole paragraphs, as many as fit ``limit`` bytes joined by blank lines, the plain way."""
    chunks: list[list[str]] = []
    for paragraph in paragraphs:
        if chunks and len("\n\n".join([*chunks[-1], paragraph]).encode()) <= limit:
            chunks[-1].append(paragraph)
        else:
            chunks.append([paragraph])
    return ["\n\n".join(chunk) for chunk in chunks]


@pytest.mark.parametrize("seed", range(5))
def test_chunks_are_whole_paragraphs_within_the_budget(seed: int) -> None:
    rng = random.Random(seed)
    words = ["a", "wörd", "🌱", "line\n\nbreak", "x" * 30]
    for _ in range(200):
        paragraphs = [
            "User: " + " ".join(rng.choices(words, k=rng.randint(1, 12)))
            for _ in range(rng.randint(1, 30))
        ]
        budget = rng.randint(1, 60)
        # The transcript comes in runs of whole paragraphs (a reader thread's each).
        cuts = sorted(rng.sample(range(1, len(paragraphs) + 1), min(len(paragraphs), 2)))
        runs = [paragraphs[a:b] for a, b in zip([0, *cuts], [*cuts, len(paragraphs)], strict=True)]
        parts = [compaction.SEPARATOR.join(p.encode() for p in run) for run in runs if run]
        chunks = compaction.transcript_chunks(parts, budget)
        assert chunks == greedy_chunks(paragraphs, budget * 4)
        assert "\n\n".join(chunks) == "\n\n".join(paragraphs)
        for chunk in chunks:
            assert estimate_text_tokens(chunk) <= budget or chunk in paragraphs
    assert compaction.transcript_chunks([], 10) == []

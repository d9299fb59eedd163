"""Transcripts for summarization, and a deterministic extractive summarizer.

Compaction hands a model a plain-text transcript, one ``Speaker: text`` turn per paragraph
(``format_transcript``). A real model summarizes it freely; the builtin offline model instead
*extracts*: it keeps the sentences that carry the most not-yet-covered content words, attributed
to their speakers and in their original order, within a character budget. Quoted text in an
assistant's turn counts for nothing, because a reply that quotes repeats what was said before
(the builtin model's own replies are mostly quotes). A later summary of a summary keeps the
attributions because the summary's own lines are ``Speaker: text`` again.
"""

import heapq
import math
import re
from collections import Counter
from typing import NamedTuple

from backend.llm.tokens import message_text

SPEAKERS = ("user", "assistant", "system", "tool", "summary", "human", "ai")
_SPEAKER_LINE = re.compile(r"^\s*(" + "|".join(SPEAKERS) + r")\s*:\s?(.*)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"”’')\]])\s+|\n+")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
MAX_SENTENCE_CHARS = 240
# A sentence adding less than this share of the best sentence's new content is not worth
# keeping, however much room is left: summaries should stop where the information does.
MIN_RELATIVE_GAIN = 0.4
DEFAULT_SUMMARY_CHARS = 800

# Function words and conversational filler: they say nothing about what was discussed.
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further get got had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself just let's like me more most much
    mustn't my myself no nor not now of off ok okay on once only or other ought our ours
    ourselves out over own really same say said says shan't she she'd she'll she's should
    shouldn't so some such sure than thank thanks that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've well were weren't what what's when when's
    where where's which while who who's whom why why's will with won't would wouldn't yes yeah
    yet you you'd you'll you're you've your yours yourself yourselves hi hello hey please great
    good nice cool sounds sound right know think mention mentioned earlier tell told
    thing things
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def format_transcript(messages: list[dict]) -> str:
    """OpenAI-style messages as the transcript ``summarize`` expects: ``Role: text`` paragraphs."""
    turns = []
    for message in messages:
        text = message_text(message.get("content")).strip()
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            text += f" [called {function.get('name')}({function.get('arguments', '')})]"
        if text.strip():
            turns.append(f"{str(message.get('role', 'user')).capitalize()}: {text.strip()}")
    return "\n\n".join(turns)


class _Sentence(NamedTuple):  # a tuple: cheap to make by the ten thousand
    index: int
    speaker: str | None
    turn: int
    text: str
    words: frozenset[str]
    specifics: int  # numbers and capitalised words inside the sentence: names, dates, amounts


def _turns(transcript: str) -> list[tuple[str | None, str]]:
    """Split a transcript into (speaker, text) turns; unlabelled lines continue the last turn."""
    turns: list[tuple[str | None, list[str]]] = []
    for line in transcript.splitlines():
        match = _SPEAKER_LINE.match(line)
        if match:
            turns.append((match.group(1).capitalize(), [match.group(2)]))
        elif turns:
            turns[-1][1].append(line)
        elif line.strip():
            turns.append((None, [line]))
    return [(speaker, "\n".join(lines)) for speaker, lines in turns]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _sentences(transcript: str) -> list[_Sentence]:
    sentences = []
    for turn, (speaker, text) in enumerate(_turns(transcript)):
        for raw in _SENTENCE_END.split(text):
            sentence = " ".join(raw.split())
            if not sentence:
                continue
            counted = _QUOTED.sub(" ", sentence) if speaker == "Assistant" else sentence
            tokens = _WORD.findall(counted)
            lowered = _WORD.findall(counted.lower())
            words = frozenset(
                {t for t in lowered if len(t) > 2 or t.isdigit()}.difference(STOPWORDS)
            )
            specifics = len(
                [
                    t
                    for t, low in zip(tokens[1:], lowered[1:], strict=False)
                    if (t[0].isupper() or t[0].isdigit()) and low not in STOPWORDS
                ]
            )
            sentences.append(
                _Sentence(
                    len(sentences),
                    speaker,
                    turn,
                    _clip(sentence, MAX_SENTENCE_CHARS),
                    words,
                    specifics,
                )
            )
    return sentences


def _cost(s: _Sentence) -> int:
    """Characters a sentence adds to the summary, counting its speaker label as if it were alone."""
    return len(s.text) + 1 + (len(s.speaker) + 2 if s.speaker else 0)


def _select(sentences: list[_Sentence], max_chars: int) -> list[_Sentence]:
    """Greedy coverage: repeatedly take the sentence adding the most new weighted content.

    Evaluated lazily (a heap of gains that can only shrink as coverage grows), which picks the
    same sentences as the plain greedy loop in about n log n instead of n times the picks.
    """
    frequency = Counter(w for s in sentences for w in s.words)
    weight = {w: 1.0 + math.log(n) for w, n in frequency.items()}
    covered: set[str] = set()

    def gain(s: _Sentence) -> float:
        new = s.words - covered
        return (sum(weight[w] for w in new) + 0.5 * s.specifics * bool(new)) / math.sqrt(
            len(s.text.split())
        )

    heap = [
        (-gain(s), s.index, s) for s in sentences if len(s.words) >= 2 or (s.words and s.specifics)
    ]
    heapq.heapify(heap)
    chosen: list[_Sentence] = []
    used = 0
    floor = 0.0
    while heap:
        stale, _, s = heapq.heappop(heap)
        if -stale <= floor:
            break  # no gain can grow back above the floor
        if used + _cost(s) > max_chars + 1:
            continue  # never fits again: the summary only gets longer
        current = gain(s)
        if heap and current < -heap[0][0]:
            heapq.heappush(heap, (-current, s.index, s))
            continue
        if current <= floor:
            continue
        floor = floor or current * MIN_RELATIVE_GAIN
        chosen.append(s)
        covered |= s.words
        used += _cost(s)
    return sorted(chosen, key=lambda s: s.index)


def _render(sentences: list[_Sentence]) -> str:
    """One line per turn, ``Speaker: sentence sentence``, in the transcript's order."""
    lines: list[tuple[int, str | None, list[str]]] = []
    for s in sentences:
        if lines and lines[-1][0] == s.turn:
            lines[-1][2].append(s.text)
        else:
            lines.append((s.turn, s.speaker, [s.text]))
    return "\n".join(
        f"{speaker}: {' '.join(texts)}" if speaker else " ".join(texts)
        for _, speaker, texts in lines
    )


def extractive_summary(transcript: str, *, max_chars: int = DEFAULT_SUMMARY_CHARS) -> str:
    """The transcript's most informative sentences, attributed, within ``max_chars``.

    Never empty: a transcript of pure small talk falls back to its opening, and an empty one
    to a sentence saying so.
    """
    sentences = _sentences(transcript)
    chosen = _select(sentences, max_chars)
    if chosen:
        return _render(chosen)
    if sentences:
        first = sentences[0]
        line = f"{first.speaker}: {first.text}" if first.speaker else first.text
        return _clip(line, max_chars)
    return "Nothing was said in the summarized part of the conversation."

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
from itertools import chain
from math import fsum
from typing import NamedTuple

from backend.llm.tokens import message_text

SPEAKERS = ("user", "assistant", "system", "tool", "summary", "human", "ai")
_SPEAKER_LINE = re.compile(r"\s*(" + "|".join(SPEAKERS) + r")\s*:\s?", re.IGNORECASE)
_LABELS = frozenset(speaker.capitalize() for speaker in SPEAKERS)
# In whitespace-collapsed text: the space after a sentence's closing mark (and quote or bracket).
# The leading literal space lets the regex engine skip straight to candidate positions.
_SENTENCE_END = re.compile(r" (?<=[.!?…] )| (?<=[.!?…][\"”’')\]] )")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_ASCII_PUNCTUATION = bytes(c for c in range(128) if not chr(c).isalnum() and chr(c) not in "'\n")
_ASCII_PUNCTUATION_TO_SPACE = bytes.maketrans(_ASCII_PUNCTUATION, b" " * len(_ASCII_PUNCTUATION))
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


def transcript_paragraph(role: str, text: str) -> str:
    """One turn of a transcript, ``Role: text``; empty when there is no text."""
    text = text.strip()
    return f"{role.capitalize()}: {text}" if text else ""


def format_transcript(messages: list[dict]) -> str:
    """OpenAI-style messages as the transcript ``summarize`` expects: ``Role: text`` paragraphs."""
    turns = []
    for message in messages:
        text = message_text(message.get("content")).strip()
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            text += f" [called {function.get('name')}({function.get('arguments', '')})]"
        if paragraph := transcript_paragraph(str(message.get("role", "user")), text):
            turns.append(paragraph)
    return "\n\n".join(turns)


class _Sentences(NamedTuple):
    """The transcript's sentences as parallel columns, one entry per sentence in order.

    Columns rather than an object per sentence: a long transcript has tens of thousands of
    sentences, and most steps here are one pass over a column.
    """

    speakers: list[str | None]
    turns: list[int]
    texts: list[str]  # as shown in a summary: whitespace collapsed, clipped
    words: list[frozenset[str]]  # content words, lowercased
    specifics: list[int]  # numbers and capitalised words inside the sentence: names, dates…
    lengths: list[int]  # words as shown, for the gain per word


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _split(transcript: str) -> tuple[list[str | None], list[int], list[str]]:
    """Speaker, turn and text of each sentence, whitespace collapsed.

    A ``Speaker:`` line starts a turn and unlabelled lines continue it. Sentences never span
    lines, so each line is collapsed once and cut at the spaces after sentence-ending marks.
    """
    speakers: list[str | None] = []
    turns: list[int] = []
    texts: list[str] = []
    speaker: str | None = None
    turn = -1
    for line in transcript.splitlines():
        flat = " ".join(line.split())
        if not flat:
            continue
        label, _, rest = flat.partition(": ")
        if label in _LABELS:  # as ``transcript_paragraph`` writes them: no regex needed
            speaker, turn, flat = label, turn + 1, rest
        elif match := _SPEAKER_LINE.match(flat):
            speaker, turn, flat = match.group(1).capitalize(), turn + 1, flat[match.end() :]
        elif turn < 0:
            turn = 0  # text before any speaker label: a turn of its own
        if not flat:
            continue
        parts = _SENTENCE_END.split(flat)
        texts += parts
        turns += [turn] * len(parts)
        speakers += [speaker] * len(parts)
    return speakers, turns, texts


def _vocabulary(tokens: set[str]) -> tuple[dict[str, str], set[str]]:
    """Which tokens are content words (and the word each stands for), and which are specific."""
    content: dict[str, str] = {}
    specific: set[str] = set()
    for token in tokens:
        word = token.lower()
        if word in STOPWORDS:
            continue
        if len(word) > 2 or word.isdigit():
            content[token] = word
        if token[0].isupper() or token[0].isdigit():
            specific.add(token)
    return content, specific


def _tokenize(texts: list[str]) -> list[list[str]]:
    """``_WORD.findall`` of each text, mostly without running the regex.

    Turning ASCII punctuation into spaces changes no word (a word never contains any, and the
    apostrophe is kept), after which a text whose pieces are all letters and digits is simply
    its pieces. Only the other texts (apostrophes, other punctuation) need the regex. The
    translation is one pass over all the texts, done on UTF-8 bytes where it is fast for any
    script; other bytes are left as they are.
    """
    if not texts:
        return []
    plain = (
        "\n".join(texts)  # texts are sentences: whitespace collapsed, no line breaks
        .encode("utf-8", "surrogatepass")
        .translate(_ASCII_PUNCTUATION_TO_SPACE)
        .decode("utf-8", "surrogatepass")
        .split("\n")
    )
    return [
        pieces if "".join(pieces).isalnum() else _WORD.findall(text)
        for text, pieces in zip(texts, map(str.split, plain), strict=True)
    ]


def _sentences(transcript: str) -> _Sentences:
    """The transcript's sentences with their content words.

    Each distinct sentence is tokenized once and each distinct token classified once, because
    conversations repeat themselves (the builtin model's replies, greetings, recurring phrases).
    Quoted text in an assistant's sentence is not counted. The first word of a sentence is
    capitalised anyway, so it is never counted as specific.
    """
    speakers, turns, texts = _split(transcript)
    counted = [
        _QUOTED.sub(" ", text) if speaker == "Assistant" and ('"' in text or "“" in text) else text
        for speaker, text in zip(speakers, texts, strict=True)
    ]
    distinct = list(dict.fromkeys(counted))
    tokens = dict(zip(distinct, _tokenize(distinct), strict=True))
    content, specific = _vocabulary(set().union(*tokens.values()))
    words = {
        text: frozenset(filter(None, map(content.get, found))) for text, found in tokens.items()
    }
    specifics = {text: sum(map(specific.__contains__, found[1:])) for text, found in tokens.items()}
    shown = [
        text if len(text) <= MAX_SENTENCE_CHARS else _clip(text, MAX_SENTENCE_CHARS)
        for text in texts
    ]
    return _Sentences(
        speakers,
        turns,
        shown,
        list(map(words.__getitem__, counted)),
        list(map(specifics.__getitem__, counted)),
        [text.count(" ") + 1 for text in shown],  # collapsed: one space between words
    )


def _select(sentences: _Sentences, max_chars: int) -> list[int]:
    """Greedy coverage: repeatedly take the sentence adding the most new weighted content.

    Evaluated lazily (a heap of gains that can only shrink as coverage grows), which picks the
    same sentences as the plain greedy loop in about n log n instead of n times the picks.
    A word's weight drops to zero once a chosen sentence covers it, so a gain is a sum over the
    sentence's words, taken with ``fsum``: exact, so it never depends on the order of a set
    (which varies with string hashing from one process to the next) and the same transcript
    always gives the same summary. Returns the chosen sentences' indices, in order.
    """
    words, specifics = sentences.words, sentences.specifics
    frequency = Counter(chain.from_iterable(words))
    weight = {w: 1.0 + math.log(n) for w, n in frequency.items()}
    bonus = [0.5 * n for n in specifics]
    roots = list(map(math.sqrt, sentences.lengths))
    costs = [
        len(text) + 1 + (len(speaker) + 2 if speaker else 0)  # its label as if it were alone
        for speaker, text in zip(sentences.speakers, sentences.texts, strict=True)
    ]
    heap = [
        (-((fsum(map(weight.__getitem__, w)) + bonus[i]) / roots[i]), i)
        for i, w in enumerate(words)
        if len(w) >= 2 or (w and specifics[i])
    ]
    heapq.heapify(heap)
    chosen: list[int] = []
    used = 0
    floor = 0.0
    while heap:
        stale, i = heapq.heappop(heap)
        if -stale <= floor:
            break  # no gain can grow back above the floor
        if used + costs[i] > max_chars + 1:
            continue  # never fits again: the summary only gets longer
        new = fsum(map(weight.__getitem__, words[i]))
        current = (new + bonus[i] * (new > 0)) / roots[i]
        if current <= floor:
            continue  # and never will be again
        if heap and current < -heap[0][0]:
            heapq.heappush(heap, (-current, i))
            continue
        floor = floor or current * MIN_RELATIVE_GAIN
        chosen.append(i)
        weight.update(dict.fromkeys(words[i], 0.0))
        used += costs[i]
    return sorted(chosen)


def _render(sentences: _Sentences, chosen: list[int]) -> str:
    """One line per turn, ``Speaker: sentence sentence``, in the transcript's order."""
    lines: list[tuple[int, str | None, list[str]]] = []
    for i in chosen:
        turn = sentences.turns[i]
        if lines and lines[-1][0] == turn:
            lines[-1][2].append(sentences.texts[i])
        else:
            lines.append((turn, sentences.speakers[i], [sentences.texts[i]]))
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
        return _render(sentences, chosen)
    if sentences.texts:
        return _clip(_render(sentences, [0]), max_chars)
    return "Nothing was said in the summarized part of the conversation."

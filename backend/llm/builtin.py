"""The builtin offline model, ``builtin/echo``: a stand-in for trying chinwag and for tests.

It needs no network and no key, and it is deterministic: the same context always gives the same
reply, streamed in the same deltas. It is not a language model. It shows that the context
reached it by reflecting the latest user message and naming the earlier ones, and it summarizes
by extracting sentences (see ``summary.py``), so compaction does something real offline. When
the memory tools are offered it uses them by fixed rules ("remember that …", "forget …"; see
``builtin_memory.py``), so an agent remembers across conversations without a key.
"""

import asyncio
import re
from collections.abc import AsyncIterator, Sequence

from backend.llm.base import (
    Event,
    Finish,
    LLMContextLengthError,
    Provider,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from backend.llm.builtin_memory import plan_tool_call, recall, report_tool_results
from backend.llm.builtin_memory import said as said_in
from backend.llm.prompt import Prompt
from backend.llm.summary import extractive_summary
from backend.llm.tokens import BYTES_PER_TOKEN, estimate_text_tokens

MODEL = "echo"
DESCRIPTION = (
    "Builtin offline stand-in for trying chinwag and for tests: no network, deterministic; "
    "it reflects what you say and summarizes by extracting sentences."
)
DEFAULT_CONTEXT_WINDOW = 8192
EARLIER_SHOWN = 3
_DELTA_WORDS = re.compile(r"\S+\s*")
_SAID = "builtin.said"  # the prompt memo's key


def _quote(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return f"“{flat}”"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sentence(text: str) -> str:
    """End with a full stop unless a quote already closed on one (no “Hi.”.)."""
    return text if re.search(r"[.!?…]”$", text) else text + "."


def _fold_said(
    count: int, recent: tuple[str, ...], messages: list[dict]
) -> tuple[int, tuple[str, ...]]:
    found = [text for m in messages if m.get("role") == "user" and (text := said_in(m))]
    return count + len(found), (*recent, *found)[-(EARLIER_SHOWN + 1) :]


def _said(prompt: Prompt) -> tuple[int, tuple[str, ...]]:
    """How many user messages said something, and the latest few of them.

    What the prompt's stable messages give is kept in its memo, so the next turn of the
    conversation reads only the messages after them.
    """
    start, count, recent = prompt.memo.get(_SAID, (0, 0, ()))
    if start > prompt.stable:
        start, count, recent = 0, 0, ()
    count, recent = _fold_said(count, recent, prompt[start : prompt.stable])
    prompt.memo[_SAID] = (prompt.stable, count, recent)
    return _fold_said(count, recent, prompt[prompt.stable :])


def compose_reply(messages: Sequence[dict] | Prompt) -> str:
    """The reply to a context: the latest user message reflected, the earlier ones named."""
    count, said = _said(Prompt.of(messages))
    if not count:
        return (
            "Hello! I'm chinwag's builtin echo model, an offline stand-in. "
            "Tell me something and I'll reflect it back, along with what you said before."
        )
    reply = _sentence(f"You said: {_quote(said[-1], 200)}")
    earlier = said[:-1]
    if count == 1:
        return reply + " That's the first thing you've told me in this conversation."
    shown = [_quote(text, 60) for text in earlier[-EARLIER_SHOWN:]]
    more = count - 1 - len(shown)
    if more:
        shown.insert(0, f"{more} more thing{'s' if more > 1 else ''}")
    return reply + " " + _sentence(f"Earlier you mentioned {_join(shown)}")


class BuiltinProvider(Provider):
    """Deterministic offline provider; ``delta_delay`` (seconds) paces deltas for demos.

    It enforces its own ``context_window`` like a real model would, so overflow handling can be
    exercised offline with a small window.
    """

    name = "builtin"

    def __init__(
        self,
        *,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        delta_delay: float = 0.0,
        words_per_delta: int = 3,
        summary_chars: int = 800,
    ) -> None:
        self.context_window = context_window
        self.delta_delay = delta_delay
        self.words_per_delta = max(1, words_per_delta)
        self.summary_chars = summary_chars

    async def stream_chat(
        self,
        model: str,
        messages: Sequence[dict] | Prompt,
        *,
        max_tokens: int | None = None,
        tools: list[dict] | None = None,
    ) -> AsyncIterator[Event]:
        """Stream a tool call or the reply in word groups, then usage and ``Finish``."""
        prompt = Prompt.of(messages)
        prompt_tokens = prompt.tokens
        if prompt_tokens > self.context_window:
            raise LLMContextLengthError(
                f"The builtin model's maximum context length is {self.context_window} tokens, "
                f"but the conversation needs about {prompt_tokens}."
            )
        offered = [t.get("function", {}).get("name", "") for t in tools or []]
        call = plan_tool_call(prompt, offered)
        if call is not None:
            yield ToolCallDelta(0, call.id, call.name, "")
            half = len(call.arguments) // 2
            for piece in (call.arguments[:half], call.arguments[half:]):
                yield ToolCallDelta(0, call.id, call.name, piece)
            yield ToolCall(call.id, call.name, call.arguments)
            yield Usage(prompt_tokens, estimate_text_tokens(call.arguments))
            yield Finish("tool_calls")
            return
        reply = report_tool_results(prompt) or recall(prompt, offered) or compose_reply(prompt)
        reason = "stop"
        if max_tokens is not None and estimate_text_tokens(reply) > max_tokens:
            reply, reason = reply[: max_tokens * BYTES_PER_TOKEN], "length"
        words = _DELTA_WORDS.findall(reply)
        for start in range(0, len(words), self.words_per_delta):
            if self.delta_delay:
                await asyncio.sleep(self.delta_delay)
            yield TextDelta("".join(words[start : start + self.words_per_delta]))
        yield Usage(prompt_tokens, estimate_text_tokens(reply))
        yield Finish(reason)

    async def summarize(
        self, model: str, *, prompt: str, transcript: str, max_tokens: int | None = None
    ) -> str:
        """An extractive summary; ``prompt`` is ignored because there is no model to follow it.

        It runs in a worker thread: a long transcript takes a while, and the server's event
        loop must keep serving other conversations meanwhile.
        """
        budget = self.summary_chars
        if max_tokens is not None:
            budget = min(budget, max_tokens * BYTES_PER_TOKEN)
        return await asyncio.to_thread(extractive_summary, transcript, max_chars=budget)

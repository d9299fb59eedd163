"""The prompt kept as it grows (``backend.llm.prompt``, ``ChatBuilder``): at every length it
gives the messages, JSON and token estimate that building it at once gives."""

import json
from typing import Any

import pytest

from backend.agent.context import ChatBuilder, chat_messages
from backend.llm import BuiltinProvider, TextDelta, estimate_tokens
from backend.llm.builtin import compose_reply
from backend.llm.openai_compat import request_body
from backend.llm.prompt import Prompt


def row(kind: str, content: str = "", **extra: Any) -> dict[str, Any]:
    return {"message_type": kind, "content": content, "extra": json.dumps(extra) if extra else None}


def called(call_id: str, name: str = "memory_insert") -> dict[str, Any]:
    return row("tool_call_message", tool_call_id=call_id, name=name, arguments='{"a": 1}')


def returned(call_id: str, text: str = "done") -> dict[str, Any]:
    return row("tool_return_message", text, tool_call_id=call_id, status="success")


# Every shape the context takes: a step's text then its calls (merged into one message), two
# calls of one step, a person's message while calls wait (moved after the returns), a return
# whose call left the context, a call never answered, a summary, non-ASCII text.
ROWS = [
    row("system_message", "You are helpful. <human>Ada</human>"),
    row("summary_message", "Earlier: the user said hello."),
    returned("call-gone"),
    row("user_message", "remember that I like tea ☕"),
    row("reasoning_message", "thinking"),
    row("assistant_message", "Let me note that."),
    called("call-1"),
    called("call-2", "conversation_search"),
    row("user_message", "and coffee"),
    returned("call-1", "Ada likes tea"),
    returned("call-2"),
    row("assistant_message", "Noted “both”."),
    row("user_message", "what now?"),
    called("call-3"),
    row("approval_response_message"),
    row("user_message", "still there?"),
]


@pytest.mark.parametrize("split", range(len(ROWS) + 1))
def test_a_prompt_grown_in_two_parts_equals_one_built_at_once(split: int) -> None:
    builder = ChatBuilder()
    builder.extend(ROWS[:split])
    early = builder.prompt()
    assert early.messages == chat_messages(ROWS[:split])
    builder.extend(ROWS[split:])
    grown = builder.prompt()
    whole = chat_messages(ROWS)
    assert grown.messages == whole
    assert len(grown) == len(whole) and grown.last == whole[-1]
    # Read as a sequence without listing it: every index and cut as the list gives it.
    assert list(grown) == whole and [grown[-i] for i in range(1, len(whole) + 1)] == whole[::-1]
    for cut in (slice(0, grown.stable), slice(grown.stable, None), slice(1, -1), slice(None)):
        assert grown[cut] == whole[cut]
    assert grown.tokens == estimate_tokens(whole)
    assert json.loads(grown.json_body(b"", b"")) == whole
    assert grown.json_body(b"<", b">") == b"<" + _dumps(whole) + b">"
    # What was handed out before is not changed by what came after.
    assert early.messages == chat_messages(ROWS[:split])
    assert early.json_body(b"", b"") == _dumps(chat_messages(ROWS[:split]))


def test_the_request_body_is_the_json_of_the_whole_request() -> None:
    builder = ChatBuilder()
    builder.extend(ROWS)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    request = {"model": "m", "stream": True, "max_tokens": 5, "tools": tools}
    body = request_body(builder.prompt(), dict(request))
    whole = {"model": "m", "messages": chat_messages(ROWS), **request}
    assert body == _dumps(whole)
    assert request_body(Prompt.of([]), {"model": "m"}) == b'{"model":"m","messages":[]}'


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def user(text: str) -> dict[str, Any]:
    return row("user_message", text)


async def test_the_builtin_model_answers_a_kept_prompt_as_a_plain_list() -> None:
    provider = BuiltinProvider()
    builder = ChatBuilder()
    rows = [row("system_message", "sys")]
    builder.extend(rows)
    for i in range(8):
        # Every third message says nothing but a reminder: the echo does not count it.
        text = "<system-reminder>x</system-reminder>" + ("" if i % 3 == 0 else f"thing {i}")
        rows.append(user(text))
        builder.extend(rows[-1:])
        prompt = builder.prompt()
        assert compose_reply(prompt) == compose_reply(chat_messages(rows))
        assert await _text(provider, prompt) == await _text(provider, chat_messages(rows))
        rows.append(row("assistant_message", "ok"))
        builder.extend(rows[-1:])
    assert compose_reply(builder.prompt()) == (
        "You said: “thing 7”. Earlier you mentioned 1 more thing, “thing 2”, “thing 4” and "
        "“thing 5”."
    )


async def _text(provider: BuiltinProvider, messages: Any) -> str:
    events = [e async for e in provider.stream_chat("echo", messages)]
    return "".join(e.text for e in events if isinstance(e, TextDelta))

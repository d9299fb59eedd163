"""How the builtin offline model uses the memory tools, so an agent remembers without a key.

The rules are fixed and documented, so a person (and a test) can predict every step. They only
apply when the request offers the tool in question:

- a user message ``remember [that] X`` → ``memory_insert`` of ``X`` into the ``human`` block;
- ``forget [that] X`` → ``memory_replace`` of ``X`` with nothing in the ``human`` block;
- ``search [for] X`` → ``conversation_search`` for ``X``;
- ``what do you remember`` / ``what do you know about me`` (with a memory tool offered) → a
  reply quoting the ``human`` block, as the system prompt shows it, updated by any edit since;
- after tool results, one reply that reports them (the block's new value, or the error).

Anything else gets the echo reply of ``builtin.compose_reply``.
"""

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.llm.tokens import message_text

HUMAN = "human"
_REMEMBER = re.compile(
    r"^\s*(?:please[\s,]+)?remember(?:\s+that)?[\s:,]+(?P<what>.+?)\s*$", re.I | re.S
)
_FORGET = re.compile(
    r"^\s*(?:please[\s,]+)?forget(?:\s+that)?[\s:,]+(?P<what>.+?)\s*$", re.I | re.S
)
_SEARCH = re.compile(r"^\s*search(?:\s+for)?[\s:,]+(?P<what>.+?)\s*$", re.I | re.S)
_RECALL = re.compile(r"what do you (?:remember|know about me)", re.I)
_MEMORY_TOOLS = ("memory_insert", "memory_replace", "memory_rethink")


_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)


def said(message: dict) -> str:
    """What a person wrote in a message, without the ``<system-reminder>`` blocks that clients
    such as Letta Code put in front of it."""
    return _REMINDER.sub("", message_text(message.get("content"))).strip()


@dataclass(frozen=True)
class PlannedCall:
    id: str
    name: str
    arguments: str


def _strip_end(text: str) -> str:
    return text.strip().rstrip(".!?").strip()


def _call_id(messages: Sequence[dict], name: str, arguments: str) -> str:
    """Deterministic, and unique within a conversation: the context's length and the message
    answered are part of it (hashing the whole context would cost time on every step)."""
    key = [len(messages), said(messages[-1]), name, arguments]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
    return f"call_{digest[:24]}"


def plan_tool_call(messages: Sequence[dict], tools: list[str]) -> PlannedCall | None:
    """The tool call the latest user message asks for, if its tool is offered."""
    if not messages or messages[-1].get("role") != "user":
        return None
    text = said(messages[-1])
    call: tuple[str, dict[str, Any]] | None = None
    if (m := _REMEMBER.match(text)) and "memory_insert" in tools:
        call = ("memory_insert", {"label": HUMAN, "new_string": _strip_end(m["what"])})
    elif (m := _FORGET.match(text)) and "memory_replace" in tools:
        call = (
            "memory_replace",
            {"label": HUMAN, "old_string": _strip_end(m["what"]), "new_string": ""},
        )
    elif (m := _SEARCH.match(text)) and "conversation_search" in tools:
        call = ("conversation_search", {"query": _strip_end(m["what"])})
    if call is None:
        return None
    name, args = call
    arguments = json.dumps(args, ensure_ascii=False)
    return PlannedCall(_call_id(messages, name, arguments), name, arguments)


def _block_in_system(messages: Sequence[dict], label: str) -> str | None:
    for m in messages:
        if m.get("role") == "system":
            found = re.search(
                rf"<{re.escape(label)}>\n(?:<description>.*?</description>\n)?<value>\n(.*?)\n</value>",
                message_text(m.get("content")),
                re.S,
            )
            if found:
                return found.group(1)
    return None


def _calls_by_id(messages: Sequence[dict]) -> dict[str, dict]:
    return {
        call.get("id"): call.get("function") or {}
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    }


def _result(message: dict) -> tuple[bool, str]:
    """A tool message's status and text, from the ``{"status", "message"}`` it carries."""
    text = message_text(message.get("content"))
    try:
        packaged = json.loads(text)
    except json.JSONDecodeError:
        return True, text
    if not isinstance(packaged, dict):
        return True, text
    message_part = packaged.get("message", text)
    if not isinstance(message_part, str):
        message_part = json.dumps(message_part, ensure_ascii=False)
    return packaged.get("status", "OK") == "OK", message_part


def _arguments(function: dict) -> dict:
    try:
        args = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        return {}
    return args if isinstance(args, dict) else {}


def current_block(messages: Sequence[dict], label: str) -> str | None:
    """A block's value as the model last saw it: the latest successful edit, else the prompt."""
    calls = _calls_by_id(messages)
    value = _block_in_system(messages, label)
    for m in messages:
        if m.get("role") != "tool":
            continue
        function = calls.get(m.get("tool_call_id"), {})
        ok, text = _result(m)
        if (
            ok
            and function.get("name") in _MEMORY_TOOLS
            and _arguments(function).get("label") == label
        ):
            value = text
    return value


def _calls_answered(messages: Sequence[dict], results: list[dict]) -> dict[str, dict]:
    """The calls that the trailing ``results`` answer, found from the end: a context's length
    must not cost each step time."""
    needed = {m.get("tool_call_id") for m in results}
    calls: dict[str, dict] = {}
    for i in range(len(messages) - len(results) - 1, -1, -1):
        m = messages[i]
        if m.get("role") == "assistant":
            for call in reversed(m.get("tool_calls") or []):
                if call.get("id") in needed:
                    calls.setdefault(call.get("id"), call.get("function") or {})
            if len(calls) == len(needed):
                break
    return calls


def report_tool_results(messages: Sequence[dict]) -> str | None:
    """The reply after a step of tool calls: what each one did."""
    results = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        results.append(m)
    if not results:
        return None
    calls = _calls_answered(messages, results)
    lines = []
    for m in reversed(results):
        function = calls.get(m.get("tool_call_id"), {})
        name = function.get("name") or "a tool"
        ok, text = _result(m)
        label = _arguments(function).get("label")
        if not ok:
            lines.append(f"The {name} call failed: {text}")
        elif name in _MEMORY_TOOLS and label:
            lines.append(f"Noted. My “{label}” memory now reads: “{text.strip()}”")
        else:
            lines.append(f"{name} returned: {text}")
    return "\n".join(lines)


def recall(messages: Sequence[dict], tools: list[str]) -> str | None:
    """The answer to "what do you remember" from an agent with memory tools, else None."""
    if not messages or messages[-1].get("role") != "user":
        return None
    if not any(name in tools for name in _MEMORY_TOOLS):
        return None
    if not _RECALL.search(said(messages[-1])):
        return None
    value = current_block(messages, HUMAN)
    if not value or not value.strip():
        return "I don't remember anything about you yet."
    return f"Here is what I remember about you: “{value.strip()}”"

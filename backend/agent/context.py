"""What the model sees: the compiled system prompt and the in-context messages as chat messages.

Tool calls travel in OpenAI's own form: an assistant message with ``tool_calls`` (its text, if
the step had any, as ``content``), then one ``role: tool`` message per call. A tool return's
content is Letta's package ``{"status": "OK"|"Failed", "message": ...}`` so a model moved from
Letta reads the same thing. Every call is answered before the next message: a call left without
a return (a run that stopped mid-step) gets an error return here, so the context is always one
that providers accept.
"""

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from backend.llm import ResolvedModel, estimate_text_tokens
from backend.llm.prompt import ChatLog, Prompt

SUMMARY_PREFIX = "Summary of the earlier conversation, which it replaces:\n"
CALL_KINDS = frozenset({"tool_call_message", "approval_request_message"})
UNANSWERED = "Error: the tool call did not complete because its run stopped before it returned."

Row = sqlite3.Row | dict[str, Any]


def compile_system(agent: dict[str, Any]) -> str:
    """The conversation's system message: the agent's prompt followed by its memory blocks."""
    parts = [agent["system"].strip()]
    if agent["blocks"]:
        parts.append("<memory_blocks>")
        for block in agent["blocks"]:
            description = (
                f"<description>{block['description']}</description>\n"
                if block.get("description")
                else ""
            )
            parts.append(
                f"<{block['label']}>\n{description}<value>\n{block['value']}\n</value>\n"
                f"</{block['label']}>"
            )
        parts.append("</memory_blocks>")
    return "\n\n".join(p for p in parts if p)


def package_return(status: str, text: str) -> str:
    """A tool return as the model reads it (Letta's ``package_function_response``)."""
    return json.dumps(
        {"status": "OK" if status == "success" else "Failed", "message": text},
        ensure_ascii=False,
    )


def _extra(row: Row) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


def openai_call(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call["tool_call_id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": call["arguments"]},
    }


def to_chat(row: Row) -> dict[str, Any] | None:
    """One stored message as an OpenAI-style chat message; ``None`` for what the model never
    sees (reasoning, approval answers). A tool call is an assistant message of its own here;
    :func:`chat_messages` merges the calls of one step."""
    kind, text = row["message_type"], row["content"]
    if kind == "system_message":
        return {"role": "system", "content": text}
    if kind == "user_message":
        return {"role": "user", "content": text}
    if kind == "assistant_message":
        return {"role": "assistant", "content": text}
    if kind == "summary_message":
        return {"role": "user", "content": SUMMARY_PREFIX + text}
    if kind in CALL_KINDS:
        return {"role": "assistant", "content": None, "tool_calls": [openai_call(_extra(row))]}
    if kind == "tool_return_message":
        extra = _extra(row)
        return {
            "role": "tool",
            "tool_call_id": extra.get("tool_call_id"),
            "content": package_return(extra.get("status", "success"), text),
        }
    return None


def transcript_entry(row: Row) -> tuple[str, str] | None:
    """``(role, text)`` of a message for a compaction transcript, tool calls spelled out."""
    kind = row["message_type"]
    if kind == "summary_message":
        return "summary", row["content"]
    if kind in CALL_KINDS:
        call = _extra(row)
        return "assistant", f"[called {call.get('name')} with {call.get('arguments')}]"
    if kind == "tool_return_message":
        return "tool", row["content"]
    chat = to_chat(row)
    return None if chat is None else (chat["role"], chat["content"] or "")


class ChatBuilder:
    """The context for the model, built message by message as the history grows.

    One assistant message per step, every call answered: a call still waiting for its return
    gets an error return at the end of the prompt (not kept: its real return may come next). A
    person's message stored while calls wait (an approval sent with a follow-up message) moves
    after their returns, which are stored later: providers want the returns first.
    """

    def __init__(self) -> None:
        self.log = ChatLog()
        self.unanswered: list[str] = []  # calls of the latest step still waiting for a return
        self.deferred: list[dict[str, Any]] = []  # messages that came while calls were waiting

    def _failed_returns(self) -> list[dict[str, Any]]:
        if not self.unanswered:
            return []
        failed = package_return("error", UNANSWERED)
        return [{"role": "tool", "tool_call_id": i, "content": failed} for i in self.unanswered]

    def _close_step(self) -> None:
        if self.unanswered:
            self.log.extend(self._failed_returns())
            self.unanswered.clear()
        if self.deferred:
            self.log.extend(self.deferred)
            self.deferred.clear()

    def add(self, row: Row) -> None:
        """The next stored message (in ``ord`` order)."""
        message = to_chat(row)
        if message is None:
            return
        if message["role"] == "tool":
            call_id = message["tool_call_id"]
            if call_id not in self.unanswered:
                return  # a return whose call left the context: providers refuse it alone
            self.unanswered.remove(call_id)
            self.log.append(message)
            if not self.unanswered:
                self._close_step()
            return
        if self.unanswered and message["role"] in ("user", "system"):
            self.deferred.append(message)
            return
        calls = message.get("tool_calls")
        last = self.log.last
        if (
            calls
            and not self.deferred
            and last is not None
            and last["role"] == "assistant"
            and (last.get("tool_calls") is None or self.unanswered)
        ):
            # The same step: its text (or its earlier calls) came just before.
            last.setdefault("tool_calls", []).extend(calls)
            self.unanswered.extend(c["id"] for c in calls)
            return
        self._close_step()
        self.log.append(message)
        if calls:
            self.unanswered.extend(c["id"] for c in calls)

    def extend(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.add(row)

    def prompt(self) -> Prompt:
        """The context as it stands: what the history gives, the steps left open closed."""
        return self.log.prompt(self._failed_returns() + self.deferred)


def chat_messages(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """The context for the model from the in-context messages, built at once."""
    builder = ChatBuilder()
    builder.extend(rows)
    return builder.prompt().messages


def reply_reserve(model: ResolvedModel) -> int:
    """Tokens kept free for the model's answer when deciding whether a context fits."""
    return min(2048, model.context_window // 8)


def tools_tokens(tools: list[dict[str, Any]] | None) -> int:
    """What the tool definitions cost in the prompt (they count in the context too)."""
    return estimate_text_tokens(json.dumps(tools)) if tools else 0


def fits(context: Prompt, model: ResolvedModel, tools: list[dict[str, Any]] | None = None) -> bool:
    """Whether the context and the tools probably leave room for the reply."""
    return context.tokens + tools_tokens(tools) <= model.context_window - reply_reserve(model)

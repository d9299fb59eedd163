"""What a listed or streamed message means for display, independent of any widget.

Real Letta servers list a compaction summary as a ``user_message`` whose content is a JSON
``system_alert``; it is recognised here so it shows as a summary block, as ours does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared_schema.messages import text_of

_LETTA_SUMMARY_MARK = "The following is a summary of the previous messages:"


@dataclass
class Entry:
    """One transcript item: its kind, title, text, and flags the widgets style by."""

    id: str
    kind: str  # system, user, assistant, reasoning, tool_call, tool_return, summary, event, other,
    # approval (a tool call waiting for a person), approval_response
    text: str
    date: str | None = None
    failed: bool = False
    in_context: bool = True
    title: str = ""
    call_id: str = ""  # tool calls, returns, approvals: which call they belong to


def entry_of(message: BaseModel) -> Entry:
    """Turn a parsed message (see ``shared_schema.parse_message``) into a transcript entry."""
    data: dict[str, Any] = message.model_dump()
    message_type = str(data.get("message_type", ""))
    entry = Entry(
        id=str(data.get("id") or ""),
        kind="other",
        text="",
        date=data.get("date"),
        failed=bool(data.get("is_err")),
        in_context=data.get("in_context") is not False,
    )
    match message_type:
        case "user_message":
            text = text_of(data.get("content"))
            summary = letta_summary(text)
            if summary is not None:
                entry.kind, entry.text = "summary", summary
            else:
                entry.kind, entry.text = "user", text
        case "assistant_message":
            entry.kind, entry.text = "assistant", text_of(data.get("content"))
        case "system_message":
            entry.kind, entry.text = "system", text_of(data.get("content"))
        case "reasoning_message":
            entry.kind, entry.text = "reasoning", str(data.get("reasoning") or "")
        case "tool_call_message" | "approval_request_message":
            call = data.get("tool_call") or (data.get("tool_calls") or [{}])[0] or {}
            entry.kind = "tool_call" if message_type == "tool_call_message" else "approval"
            entry.title = str(call.get("name") or "")
            entry.text = str(call.get("arguments") or "")
            entry.call_id = str(call.get("tool_call_id") or "")
        case "tool_return_message":
            entry.kind, entry.text = "tool_return", str(data.get("tool_return") or "")
            entry.failed = entry.failed or data.get("status") == "error"
            entry.call_id = str(data.get("tool_call_id") or "")
        case "approval_response_message":
            answer = (data.get("approvals") or [{}])[0] or {}
            approve = answer.get("approve", data.get("approve"))
            reason = answer.get("reason") or data.get("reason")
            entry.kind = "approval_response"
            entry.call_id = str(answer.get("tool_call_id") or data.get("approval_request_id") or "")
            entry.text = "approved" if approve else "denied" + (f": {reason}" if reason else "")
        case "summary_message":
            entry.kind = "summary"
            entry.text = str(data.get("summary") or text_of(data.get("content")))
        case "event_message":
            entry.kind, entry.title = "event", str(data.get("event_type") or "event")
            entry.text = json.dumps(data.get("event_data") or {})
        case _:
            entry.text = text_of(data.get("content"))
    return entry


def letta_summary(text: str) -> str | None:
    """The summary inside a Letta ``system_alert`` user message, or ``None`` if it is not one."""
    if not text.startswith("{") or "system_alert" not in text:
        return None
    try:
        alert = json.loads(text)
    except ValueError:
        return None
    if not isinstance(alert, dict) or alert.get("type") != "system_alert":
        return None
    message = str(alert.get("message") or "")
    _, mark, summary = message.partition(_LETTA_SUMMARY_MARK)
    return summary.strip() if mark else message


def clock_of(date: str | None) -> str:
    """``HH:MM`` of an ISO timestamp, in UTC so every client shows the same."""
    if not date:
        return ""
    try:
        return datetime.fromisoformat(date.replace("Z", "+00:00")).strftime("%H:%M")
    except ValueError:
        return ""


def to_markdown(title: str, entries: list[Entry]) -> str:
    """A conversation as a Markdown document (export)."""
    lines = [f"# {title}", ""]
    headings = {
        "user": "You",
        "assistant": "Assistant",
        "system": "System prompt",
        "reasoning": "Reasoning",
        "tool_call": "Tool call",
        "tool_return": "Tool result",
        "approval": "Approval request",
        "approval_response": "Approval",
        "summary": "Summary of earlier messages",
    }
    for entry in entries:
        heading = headings.get(entry.kind, entry.kind)
        if entry.title:
            heading = f"{heading}: {entry.title}"
        stamp = f" ({entry.date})" if entry.date else ""
        failed = " — failed" if entry.failed else ""
        lines.append(f"## {heading}{stamp}{failed}")
        lines.append("")
        if entry.kind in ("user", "assistant", "summary"):
            lines.append(entry.text)
        else:
            lines += ["```", entry.text, "```"]
        lines.append("")
    return "\n".join(lines)

"""What the model sees: the compiled system prompt and the in-context messages as chat messages."""

import sqlite3
from typing import Any

from backend.llm import ResolvedModel, estimate_tokens

SUMMARY_PREFIX = "Summary of the earlier conversation, which it replaces:\n"


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


def to_chat(row: sqlite3.Row | dict[str, Any]) -> dict[str, str] | None:
    """One stored message as an OpenAI-style chat message; ``None`` for what the model never sees.

    Tool calls and returns are rendered as text: the agent offers no tools to the model, and text
    keeps any such exchange readable to every OpenAI-compatible server.
    """
    kind, text = row["message_type"], row["content"]
    if kind == "system_message":
        return {"role": "system", "content": text}
    if kind == "user_message":
        return {"role": "user", "content": text}
    if kind == "assistant_message":
        return {"role": "assistant", "content": text}
    if kind == "summary_message":
        return {"role": "user", "content": SUMMARY_PREFIX + text}
    if kind == "tool_call_message":
        return {"role": "assistant", "content": f"[tool call] {row['extra']}"}
    if kind == "tool_return_message":
        return {"role": "user", "content": f"[tool result] {text}"}
    return None


def chat_messages(rows: list[sqlite3.Row]) -> list[dict[str, str]]:
    return [m for m in (to_chat(r) for r in rows) if m is not None]


def reply_reserve(model: ResolvedModel) -> int:
    """Tokens kept free for the model's answer when deciding whether a context fits."""
    return min(2048, model.context_window // 8)


def fits(context: list[dict[str, str]], model: ResolvedModel) -> bool:
    return estimate_tokens(context) <= model.context_window - reply_reserve(model)

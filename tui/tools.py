"""What a tool call means to a reader: a one-line summary, its arguments as pretty JSON.

Memory edits read as edits ("memory_insert → human: + likes tea") rather than as JSON, with the
argument names of Letta's memory tools (``letta/functions/function_sets/base.py``) and of the
older ``core_memory_*`` ones. Independent of any widget.
"""

from __future__ import annotations

import json
from typing import Any

MEMORY_TOOLS = frozenset(
    {
        "memory_insert",
        "memory_replace",
        "memory_rethink",
        "memory_apply_patch",
        "core_memory_append",
        "core_memory_replace",
    }
)
_SUMMARY_WIDTH = 72


def parsed_arguments(arguments: str) -> dict[str, Any] | None:
    """The arguments as a dict, or ``None`` while they are still streaming in (or not JSON)."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def pretty_arguments(arguments: str) -> str:
    """Indented JSON once the arguments parse; the raw text so far while they stream."""
    value = parsed_arguments(arguments)
    if value is None:
        return arguments
    return json.dumps(value, indent=2, ensure_ascii=False)


def is_memory_edit(name: str) -> bool:
    return name in MEMORY_TOOLS


def edited_label(name: str, arguments: str) -> str | None:
    """The label of the block a memory tool edits."""
    args = parsed_arguments(arguments)
    if not is_memory_edit(name) or args is None:
        return None
    label = args.get("label") or args.get("block_label")
    return str(label) if label else None


def summary(name: str, arguments: str) -> str:
    """One line that says what the call does: an edit for memory tools, ``name(args)`` else."""
    args = parsed_arguments(arguments)
    if args is None:
        return f"{name} …"
    line = _memory_summary(name, args) if is_memory_edit(name) else None
    if line is None:
        if name == "conversation_search" and "query" in args:
            line = f"{name} → “{_flat(args['query'])}”"
        else:
            shown = ", ".join(
                f"{key}={_flat(value)}" for key, value in args.items() if key != "request_heartbeat"
            )
            line = f"{name}({shown})"
    return _clip(line)


def _memory_summary(name: str, args: dict[str, Any]) -> str | None:
    label = args.get("label") or args.get("block_label") or "?"
    match name:
        case "memory_insert":
            change = f"+ {_flat(_first(args, 'new_string', 'new_str'))}"
        case "core_memory_append":
            change = f"+ {_flat(args.get('content', ''))}"
        case "memory_replace" | "core_memory_replace":
            old = _first(args, "old_string", "old_str", "old_content")
            new = _first(args, "new_string", "new_str", "new_content")
            change = f"− {_flat(old)}" + (f" + {_flat(new)}" if new else "")
        case "memory_rethink":
            change = f"rewritten ({len(str(args.get('new_memory', '')))} chars)"
        case _:
            change = "edited"
    return f"{name} → {label}: {change}"


def _first(args: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present: Letta renamed arguments across versions."""
    return next((args[name] for name in names if name in args), "")


def _flat(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.split())


def _clip(line: str) -> str:
    return line if len(line) <= _SUMMARY_WIDTH else line[: _SUMMARY_WIDTH - 1] + "…"
